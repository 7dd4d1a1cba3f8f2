package inspect

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// PageView is everything the inspector page shows.
type PageView struct {
	Filter    Filter
	Events    []Event
	LocalSink bool
	// SinkRequests counts the requests the local sink took.
	SinkRequests int64
	// Query is the filter as a query string, for the live stream.
	Query string
	// Delivery is who delivers and why delivery stalls, if it does.
	Delivery DeliveryStatus
}

// DetailView is one event with its request.
type DetailView struct {
	Event     Event
	Request   *Request
	LocalSink bool
}

// Sources lists every source name, for the filter form.
var Sources = []string{"render", "helper", "proxy", "orders", "backfill", SourceRestore}

// States lists every state name, for the filter form.
var States = []string{StateRendered, StatePushed, "pending", "delivered", "dead", StateRestored, StateExpired, StateInvalid, StatePhoneDropped}

// FilterQuery encodes f as the query string of the page and the stream.
func FilterQuery(f Filter) string {
	v := url.Values{}
	for k, s := range map[string]string{"metric": f.Metric, "state": f.State, "source": f.Source, "profile": f.Profile} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

func pretty(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

func clock(t time.Time) string { return t.Local().Format("15:04:05.000") }

func itoa(n int) string { return strconv.Itoa(n) }

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func summary(e Event) string {
	var v any
	if json.Unmarshal(e.Payload, &v) != nil {
		return short(string(e.Payload), 120)
	}
	if m, ok := v.(map[string]any); ok {
		if p, ok := m["properties"]; ok {
			b, _ := json.Marshal(p)
			return short(string(b), 120)
		}
	}
	b, _ := json.Marshal(v)
	return short(string(b), 120)
}
