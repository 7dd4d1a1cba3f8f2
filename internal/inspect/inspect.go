// Package inspect is the read side of the event inspector at
// /debug/events: one list of the latest events from every source — the
// outbox (orders, proxy, backfill: what is or was delivered to Klaviyo,
// with attempts and Klaviyo's last response) and an in-memory Ring of
// browser-side events (pushes rendered into pages, pushes the helper made,
// cart restore visits) — filtered by metric, state, source and profile, plus one event's full
// JSON:API request. Handler serves its pages (guarded by the API token, or
// loopback in local-sink mode) and ReportHandler takes what the demo's
// klaviyo.js stand-in ran; the API server mounts the one, the demo shop
// the other.
//
// It imports db, klaviyo, localsink, outbox, metrics, strictjson, apperr and
// the shared HTTP toolkit httpx.
package inspect

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/localsink"
	"github.com/snippetd/snippetd/internal/outbox"
)

// Event is one row of the inspector, whatever its source.
type Event struct {
	// ID is "o<n>" for outbox event n and "b<n>" for browser-side event n.
	ID     string `json:"id"`
	Source string `json:"source"`
	Metric string `json:"metric"`
	// Profile is the identifier the event is attributed to ("" when only
	// klaviyo.js's cookie would tell).
	Profile  string `json:"profile"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	// LastStatus and LastResponse are Klaviyo's last answer (outbox only).
	LastStatus   int       `json:"last_status,omitempty"`
	LastResponse string    `json:"last_response,omitempty"`
	UniqueID     string    `json:"unique_id,omitempty"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	// Payload is the stored klaviyo.Event (outbox) or the push array
	// (browser-side).
	Payload json.RawMessage `json:"payload"`
}

// Filter selects events. Empty fields match everything.
type Filter struct {
	Metric, State, Source, Profile string
	// Limit caps the events (default 100, at most 1,000).
	Limit int
}

// Request is the JSON:API request of one event: the one the local sink
// recorded, or the one the Klaviyo client sends for it.
type Request struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body"`
	// Recorded says the local sink took this exact request (perhaps a
	// bulk request carrying other events too); otherwise it is the
	// single-event request built from the stored event.
	Recorded bool `json:"recorded"`
	// Status is what the local sink answered, when Recorded.
	Status int `json:"status,omitempty"`
}

// Inspector reads events for the inspector. Set DB; Ring and Sink are
// optional.
type Inspector struct {
	DB   *db.DB
	Ring *Ring
	// Sink is the local sink when snippetd runs without a private key.
	Sink *localsink.Sink
}

// LocalSink reports whether deliveries go to the local sink (nothing
// leaves the machine).
func (in *Inspector) LocalSink() bool { return in.Sink != nil }

// browserStates are the states only the ring has.
func browserState(s string) bool {
	return s == StateRendered || s == StatePushed || s == StatePhoneDropped || restoreState(s)
}

// List returns the latest events matching f from the outbox and the ring,
// newest first.
func (in *Inspector) List(ctx context.Context, f Filter) ([]Event, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, outbox.MaxListLimit)
	var out []Event
	if !browserState(f.State) && f.Source != SourceRender && f.Source != SourceHelper && f.Source != SourceRestore && in.DB != nil {
		rs, err := outbox.List(ctx, in.DB, outbox.Query{Metric: f.Metric, State: f.State, Source: f.Source, Profile: f.Profile, Limit: f.Limit})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out = append(out, fromRecord(r))
		}
	}
	if in.Ring != nil && (f.State == "" || browserState(f.State)) {
		for _, e := range in.Ring.List() {
			if match(f, e) {
				out = append(out, e)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func match(f Filter, e Event) bool {
	return (f.Metric == "" || f.Metric == e.Metric) && (f.State == "" || f.State == e.State) &&
		(f.Source == "" || f.Source == e.Source) && (f.Profile == "" || f.Profile == e.Profile || strings.HasSuffix(f.Profile, ":"+e.Profile) && e.Profile != "")
}

func fromRecord(r outbox.Record) Event {
	return Event{
		ID: "o" + strconv.FormatInt(r.ID, 10), Source: r.Source, Metric: r.Metric, Profile: r.Profile,
		State: r.State, Attempts: r.Attempts, LastStatus: r.LastStatus, LastResponse: r.LastResponse,
		UniqueID: r.UniqueID, Created: r.Created, Updated: r.Updated, Payload: r.Payload,
	}
}

// Get returns one event and, for outbox events, its JSON:API request.
func (in *Inspector) Get(ctx context.Context, id string) (Event, *Request, error) {
	notFound := apperr.Errorf(apperr.ENOTFOUND, "no event %q", id)
	if strings.HasPrefix(id, "b") && in.Ring != nil {
		e, ok := in.Ring.Get(id)
		if !ok {
			return Event{}, nil, notFound
		}
		return e, nil, nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(id, "o"), 10, 64)
	if !strings.HasPrefix(id, "o") || err != nil || in.DB == nil {
		return Event{}, nil, notFound
	}
	r, err := outbox.Get(ctx, in.DB, n)
	if err != nil {
		return Event{}, nil, err
	}
	e := fromRecord(r)
	if in.Sink != nil {
		if sr, ok := in.Sink.ForUniqueID(r.UniqueID); ok && sr.Body != nil {
			return e, &Request{Method: sr.Method, Path: sr.Path, Body: sr.Body, Recorded: true, Status: sr.Status}, nil
		}
	}
	var ev klaviyo.Event
	if err := json.Unmarshal(r.Payload, &ev); err != nil {
		return e, nil, nil
	}
	body, err := klaviyo.EncodeEvent(ev)
	if err != nil {
		return e, nil, nil
	}
	return e, &Request{Method: "POST", Path: localsink.PathEvents, Body: body}, nil
}

// DeliveryStatus is who delivers the outbox now and, when delivery is not
// moving, why, for the inspector's status line.
type DeliveryStatus struct {
	Deliverers []outbox.Deliverer `json:"deliverers"`
	// Problem is a sentence for a person: delivery paused (with the
	// setting to fix), or no process delivering; "" when delivery runs.
	Problem string `json:"problem,omitempty"`
}

// Delivery reads the outbox's deliverers.
func (in *Inspector) Delivery(ctx context.Context) DeliveryStatus {
	ds, err := outbox.Deliverers(ctx, in.DB)
	if err != nil {
		return DeliveryStatus{Deliverers: []outbox.Deliverer{}, Problem: "cannot read who delivers the events: " + err.Error()}
	}
	st := DeliveryStatus{Deliverers: ds}
	if ds == nil {
		st.Deliverers = []outbox.Deliverer{}
	}
	switch {
	case len(ds) == 0:
		st.Problem = "no process delivers the stored events now; they wait in the outbox."
	case ds[0].Paused != "":
		st.Problem = "paused at " + ds[0].String() + ": " + ds[0].Paused + "."
	}
	return st
}
