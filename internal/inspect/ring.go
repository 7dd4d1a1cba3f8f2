package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Browser-side states of ring events.
const (
	// StateRendered: the server put the push into a page; no browser has
	// reported running it yet.
	StateRendered = "rendered"
	// StatePushed: a browser ran the push (reported by the demo's local
	// klaviyo.js stand-in), which klaviyo.js would send from the browser.
	StatePushed = "pushed"
)

// Sources of events.
const (
	SourceRender = "render"
	SourceHelper = "helper"
)

// DefaultRingSize is how many browser-side events a Ring keeps.
const DefaultRingSize = 500

// DefaultRingBytes bounds the memory a Ring's events hold: anyone may call
// the render API, so the count alone would let large pushes grow it to
// hundreds of megabytes. The oldest events go first.
const DefaultRingBytes = 16 << 20

// Ring keeps the latest browser-side events in memory: pushes rendered
// into pages by the server (source render) and pushes browsers reported
// (source helper). They never reach the outbox: klaviyo.js sends them from
// the browser. Safe for concurrent use.
type Ring struct {
	mu       sync.Mutex
	size     int
	maxBytes int
	bytes    int // held by events, as entryBytes counts
	seq      int64
	events   []ringEntry // oldest first
	changed  chan struct{}
	now      func() time.Time
}

type ringEntry struct {
	Event
	view string
	norm string // canonical JSON of the push, to match reports to renders
	// lazy marks a render event not read yet: its metric, profile and norm
	// are worked out from the push when first needed (see settle), so
	// that recording a render reads nothing the renderer just wrote.
	lazy bool
}

// NewRing returns a Ring keeping size events (0: DefaultRingSize).
func NewRing(size int) *Ring {
	if size <= 0 {
		size = DefaultRingSize
	}
	return &Ring{size: size, maxBytes: DefaultRingBytes, changed: make(chan struct{}), now: time.Now}
}

// maxProfileBytes bounds the profile identifier a browser reports.
const maxProfileBytes = 320

// ringEntryOverhead approximates what an entry holds beside its strings
// and payload (the struct, slice slot, times).
const ringEntryOverhead = 256

// entryBytes approximates the memory e holds; a lazy entry counts its
// norm ahead as long as its payload, so settling it keeps the ring near
// its budget.
func entryBytes(e *ringEntry) int {
	n := ringEntryOverhead + len(e.Payload) + len(e.norm) + len(e.view) + len(e.ID) + len(e.Source) + len(e.Metric) + len(e.Profile) + len(e.State)
	if e.lazy {
		n += len(e.Payload)
	}
	return n
}

// Changed returns a channel closed at the next change of the ring.
func (r *Ring) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// RecordRender adds one render event per push that the server wrote into
// page view (an opaque id the page passes back when it reports). It keeps
// the pushes as they are: the inspector names them when it shows them,
// and a report is compared with them when one comes for view.
func (r *Ring) RecordRender(view string, pushes []json.RawMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range pushes {
		r.add(view, SourceRender, StateRendered, p, "", true)
	}
	r.notify()
}

// settle works out a lazy entry's metric, profile and norm.
func (r *Ring) settle(e *ringEntry) {
	if !e.lazy {
		return
	}
	before := entryBytes(e)
	e.lazy = false
	metric, profile := describe(e.Payload)
	e.Metric = metric
	if e.Profile == "" {
		e.Profile = profile
	}
	if e.norm == "" {
		e.norm = canonical(e.Payload)
	}
	r.bytes += entryBytes(e) - before
}

// RecordPushes takes pushes a browser reported running in page view, with
// the profile identifier it knows (if any). A push the server rendered into
// that view moves that render event to StatePushed; any other push becomes
// a new event of source (the helper, or the page's own script). It returns
// how many new events it added.
func (r *Ring) RecordPushes(view, source string, pushes []json.RawMessage, profile string) int {
	if len(profile) > maxProfileBytes {
		profile = profile[:maxProfileBytes] // a browser's report: not an identifier Klaviyo would take
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	added := 0
	for _, p := range pushes {
		norm := canonical(p)
		matched := false
		if view != "" {
			for i := range r.events {
				e := &r.events[i]
				if e.view != view || e.Source != SourceRender || e.State != StateRendered {
					continue
				}
				r.settle(e)
				if e.norm == norm {
					e.State, e.Updated = StatePushed, r.now().UTC()
					if e.Profile == "" {
						e.Profile = profile
						r.bytes += len(profile)
					}
					matched = true
					break
				}
			}
		}
		if !matched {
			r.add(view, source, StatePushed, p, profile, false)
			added++
		}
	}
	r.notify()
	return added
}

// add appends an event for push; a lazy one (a render's) is named and
// normalised only when first needed (settle).
func (r *Ring) add(view, source, state string, push json.RawMessage, profile string, lazy bool) {
	r.seq++
	now := r.now().UTC()
	e := ringEntry{
		Event: Event{ID: "b" + strconv.FormatInt(r.seq, 10), Source: source, Profile: profile,
			State: state, Payload: append(json.RawMessage(nil), push...), Created: now, Updated: now},
		view: view, lazy: lazy,
	}
	if !lazy {
		metric, p := describe(push)
		e.Metric = metric
		if e.Profile == "" {
			e.Profile = p
		}
		e.norm = canonical(push)
	}
	n := entryBytes(&e)
	if n > r.maxBytes {
		// One push larger than the whole budget: keep the row, not the
		// payload, named as the push was.
		if lazy {
			r.settleOversized(&e, push)
		}
		e.Payload, _ = json.Marshal(fmt.Sprintf("(a push of %d bytes, more than the inspector keeps)", len(push)))
		e.norm = ""
		n = entryBytes(&e)
	}
	drop := 0
	for drop < len(r.events) && (len(r.events)-drop >= r.size || r.bytes+n > r.maxBytes) {
		r.bytes -= entryBytes(&r.events[drop])
		drop++
	}
	if drop > 0 {
		m := copy(r.events, r.events[drop:])
		clear(r.events[m:]) // let the dropped payloads go
		r.events = r.events[:m]
	}
	r.events = append(r.events, e)
	r.bytes += n
}

func (r *Ring) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// settleOversized names a lazy entry whose push the ring will not keep,
// from the push itself, before it is dropped; it never matches a report.
func (r *Ring) settleOversized(e *ringEntry, push json.RawMessage) {
	e.lazy = false
	metric, p := describe(push)
	e.Metric = metric
	if e.Profile == "" {
		e.Profile = p
	}
}

// List returns the ring's events, newest first.
func (r *Ring) List() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Event, len(r.events))
	for i := range r.events {
		e := &r.events[i]
		r.settle(e)
		out[len(r.events)-1-i] = e.Event
	}
	return out
}

// Get returns the event with id.
func (r *Ring) Get(id string) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.events {
		if e := &r.events[i]; e.ID == id {
			r.settle(e)
			return e.Event, true
		}
	}
	return Event{}, false
}

// canonical re-encodes JSON with sorted keys and Go's escaping, so that
// the server's script-safe encoding and a browser's JSON.stringify of the
// same push compare equal.
func canonical(raw json.RawMessage) string {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// describe names a push for the inspector: the metric of a track call,
// else the method name ("identify", "trackViewedItem"), and the profile
// identifier an identify call carries.
func describe(push json.RawMessage) (metric, profile string) {
	var arr []json.RawMessage
	if json.Unmarshal(push, &arr) != nil || len(arr) == 0 {
		return "(not a push)", ""
	}
	var method string
	json.Unmarshal(arr[0], &method)
	switch method {
	case "track":
		if len(arr) > 1 {
			json.Unmarshal(arr[1], &metric)
		}
		return metric, ""
	case "identify":
		if len(arr) > 1 {
			var props map[string]any
			json.Unmarshal(arr[1], &props)
			for _, k := range []string{"email", "$email", "phone_number", "$phone_number", "external_id", "$id"} {
				if s, ok := props[k].(string); ok && s != "" {
					return method, s
				}
			}
		}
	}
	return method, ""
}
