package klaviyo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/snippetd/snippetd/internal/jsonw"
	"github.com/snippetd/snippetd/shop"
)

// Batch limits of POST /api/event-bulk-create-jobs.
const (
	// MaxBulkEvents is the most events one bulk request may carry.
	MaxBulkEvents = 1000
	// MaxPayloadBytes is the largest request body Klaviyo accepts (5 MB),
	// for one event and for one bulk request alike.
	MaxPayloadBytes = 5 * 1024 * 1024
)

// The JSON:API documents, field order as in Klaviyo's examples so that the
// golden files read like its documentation.

type jsonapiData[T any] struct {
	Data T `json:"data"`
}

type metricResource struct {
	Type       string           `json:"type"`
	Attributes metricAttributes `json:"attributes"`
}

type metricAttributes struct {
	Name string `json:"name"`
}

type profileResource struct {
	Type       string  `json:"type"`
	Attributes Profile `json:"attributes"`
}

type eventAttributes struct {
	Properties    json.RawMessage               `json:"properties"`
	Metric        jsonapiData[metricResource]   `json:"metric"`
	Profile       *jsonapiData[profileResource] `json:"profile,omitempty"`
	Time          string                        `json:"time,omitempty"`
	Value         shop.Money                    `json:"value,omitzero"`
	ValueCurrency string                        `json:"value_currency,omitempty"`
	UniqueID      string                        `json:"unique_id,omitempty"`
	Backfill      bool                          `json:"backfill,omitempty"`
}

type eventResource struct {
	Type       string          `json:"type"`
	Attributes eventAttributes `json:"attributes"`
}

type bulkEntryAttributes struct {
	Profile jsonapiData[profileResource] `json:"profile"`
	Events  jsonapiData[[]eventResource] `json:"events"`
}

type bulkEntry struct {
	Type       string              `json:"type"`
	Attributes bulkEntryAttributes `json:"attributes"`
}

type bulkJobAttributes struct {
	EventsBulkCreate jsonapiData[[]bulkEntry] `json:"events-bulk-create"`
}

type bulkJob struct {
	Type       string            `json:"type"`
	Attributes bulkJobAttributes `json:"attributes"`
}

// FormatTime renders t as Klaviyo keeps it: UTC, truncated to the second.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func (e Event) attributes(withProfile bool) eventAttributes {
	props := e.Properties
	if len(bytes.TrimSpace(props)) == 0 || string(bytes.TrimSpace(props)) == "null" {
		props = json.RawMessage(`{}`)
	}
	a := eventAttributes{
		Properties:    props,
		Metric:        jsonapiData[metricResource]{metricResource{"metric", metricAttributes{e.Metric}}},
		Value:         e.Value,
		ValueCurrency: e.ValueCurrency,
		UniqueID:      e.UniqueID,
		Backfill:      e.Backfill,
	}
	if !e.Time.IsZero() {
		a.Time = FormatTime(e.Time)
	}
	if withProfile {
		a.Profile = &jsonapiData[profileResource]{profileResource{"profile", e.Profile}}
	}
	return a
}

// EncodeEvent returns the JSON:API body of POST /api/events for e (the
// current shape, revision 2023-07-15 and later). It does not validate e;
// call Validate first. The body is json.Marshal's, byte for byte, written
// without reflection (TestEncodeMatchesReflection, FuzzEncode); the rare
// events appendEventAttributes does not write go through json.Marshal.
func EncodeEvent(e Event) ([]byte, error) { return encodeEvent(&e, propsUnknown) }

// CheckAndEncodeEvent is ValidateAt(now) followed by EncodeEvent, with
// the first error: what a sender does before POST /api/events. The
// properties are scanned once, not once for each.
func CheckAndEncodeEvent(e Event, now time.Time) ([]byte, error) {
	props, err := e.validate(now.AddDate(1, 0, 0))
	if err != nil {
		return nil, err
	}
	return encodeEvent(&e, props)
}

// encodeEvent is EncodeEvent; props is what validate's scan found in e's
// properties (see encodable).
func encodeEvent(e *Event, props propsMode) ([]byte, error) {
	if props = encodable(e, props); props == propsUnknown {
		return encodeEventReflect(*e)
	}
	b := make([]byte, 0, eventSizeHint(e)+len(`{"data":{"type":"event","attributes":}}`)+profileSizeHint(&e.Profile))
	b = append(b, `{"data":{"type":"event","attributes":`...)
	b = appendEventAttributes(b, e, props, true)
	return append(b, "}}"...), nil
}

// encodeEventReflect is EncodeEvent through json.Marshal.
func encodeEventReflect(e Event) ([]byte, error) {
	doc := jsonapiData[eventResource]{eventResource{"event", e.attributes(true)}}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("klaviyo: encode %s event: %w", e.Metric, err)
	}
	return b, nil
}

// EncodeBulk returns the JSON:API body of POST /api/event-bulk-create-jobs:
// one entry per distinct profile (in order of first appearance), each with
// its events in their original order. Events whose profiles share an
// identifier but differ in attributes get separate entries, so no profile
// attribute is lost. It does not enforce the batch limits; see CheckBatch.
// Like EncodeEvent, it writes json.Marshal's bytes without reflection.
func EncodeBulk(events []Event) ([]byte, error) { return encodeBulk(events, nil) }

// CheckAndEncodeBulk is CheckBatch(events, now) followed by
// EncodeBulk(events), with the first error: what a sender does before POST
// /api/event-bulk-create-jobs. Each event's properties are scanned once,
// not once for each (the scan was two fifths of the local sink's CPU).
func CheckAndEncodeBulk(events []Event, now time.Time) ([]byte, error) {
	props := make([]propsMode, len(events))
	if err := checkBatch(events, now, props); err != nil {
		return nil, err
	}
	return encodeBulk(events, props)
}

// encodeBulk is EncodeBulk; props, if not nil, holds what validate's
// scan found in each event's properties (see encodable).
func encodeBulk(events []Event, props []propsMode) ([]byte, error) {
	size := len(`{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":[]}}}}`)
	if props == nil {
		props = make([]propsMode, len(events))
	}
	for i := range events {
		if props[i] = encodable(&events[i], props[i]); props[i] == propsUnknown {
			return encodeBulkReflect(events)
		}
		size += eventSizeHint(&events[i]) + len(`{"type":"event","attributes":},`)
	}
	// Group by the profile's JSON, as encodeBulkReflect does: profiles
	// holds each distinct profile's encoding, one after the other; each
	// entry's events are a list through next. The index is built only
	// once a second profile appears, and consecutive events of one profile
	// (the usual case) need no lookup.
	type entry struct{ start, end, first, last int }
	next := make([]int, len(events))
	entries := make([]entry, 0, 4)
	profiles := make([]byte, 0, 256)
	var index map[string]int
	prev := -1
	for i := range events {
		start := len(profiles)
		profiles = appendProfile(profiles, &events[i].Profile)
		p := profiles[start:]
		j := -1
		if prev >= 0 && string(p) == string(profiles[entries[prev].start:entries[prev].end]) {
			j = prev
		} else if k, ok := index[string(p)]; ok {
			j = k
		}
		next[i] = -1
		if j >= 0 {
			profiles = profiles[:start]
			next[entries[j].last] = i
			entries[j].last = i
		} else {
			j = len(entries)
			if index == nil && j > 0 {
				index = make(map[string]int)
				for k, en := range entries {
					index[string(profiles[en.start:en.end])] = k
				}
			}
			if index != nil {
				index[string(p)] = j
			}
			entries = append(entries, entry{start: start, end: len(profiles), first: i, last: i})
		}
		prev = j
	}
	size += len(profiles) + len(entries)*len(`{"type":"event-bulk-create","attributes":{"profile":{"data":{"type":"profile","attributes":}},"events":{"data":[]}}},`)
	b := make([]byte, 0, size)
	b = append(b, `{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":[`...)
	for k, en := range entries {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"event-bulk-create","attributes":{"profile":{"data":{"type":"profile","attributes":`...)
		b = append(b, profiles[en.start:en.end]...)
		b = append(b, `}},"events":{"data":[`...)
		for i := en.first; i >= 0; i = next[i] {
			if i != en.first {
				b = append(b, ',')
			}
			b = append(b, `{"type":"event","attributes":`...)
			b = appendEventAttributes(b, &events[i], props[i], false)
			b = append(b, '}')
		}
		b = append(b, "]}}}"...)
	}
	return append(b, "]}}}}"...), nil
}

// encodeBulkReflect is EncodeBulk through json.Marshal.
func encodeBulkReflect(events []Event) ([]byte, error) {
	var entries []bulkEntry
	index := map[string]int{}
	for _, e := range events {
		pk, err := json.Marshal(e.Profile)
		if err != nil {
			return nil, fmt.Errorf("klaviyo: encode profile: %w", err)
		}
		i, ok := index[string(pk)]
		if !ok {
			i = len(entries)
			index[string(pk)] = i
			entries = append(entries, bulkEntry{Type: "event-bulk-create", Attributes: bulkEntryAttributes{
				Profile: jsonapiData[profileResource]{profileResource{"profile", e.Profile}},
				Events:  jsonapiData[[]eventResource]{[]eventResource{}},
			}})
		}
		ev := &entries[i].Attributes.Events.Data
		*ev = append(*ev, eventResource{"event", e.attributes(false)})
	}
	if entries == nil {
		entries = []bulkEntry{}
	}
	doc := jsonapiData[bulkJob]{bulkJob{
		Type:       "event-bulk-create-job",
		Attributes: bulkJobAttributes{jsonapiData[[]bulkEntry]{entries}},
	}}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("klaviyo: encode bulk job: %w", err)
	}
	return b, nil
}

// blankProperties reports properties that attributes sends as {}.
func blankProperties(props []byte) bool {
	t := bytes.TrimSpace(props)
	return len(t) == 0 || string(t) == "null"
}

// encodable reports how appendEventAttributes writes e's attributes as
// json.Marshal writes eventAttributes, or propsUnknown when it does not:
// the properties must be blank (sent as {}) or one JSON object within
// Klaviyo's limits (json.Marshal compacts those as appendCompact does, and
// refuses invalid ones), and the amount must have a JSON form. CheckBatch
// and Validate refuse the events it excludes. props is what validate's
// scan found, if it ran; else encodable scans.
func encodable(e *Event, props propsMode) propsMode {
	if e.Value.IsSet() && e.Value.Cents() == math.MinInt64 {
		return propsUnknown
	}
	if props != propsUnknown {
		return props
	}
	if blankProperties(e.Properties) {
		return propsBlank
	}
	return scanProperties(e.Properties)
}

// appendEventAttributes appends the attributes of e's event resource
// (eventAttributes as json.Marshal writes them) for an encodable e, whose
// properties are as encodable found them.
func appendEventAttributes(b []byte, e *Event, props propsMode, withProfile bool) []byte {
	b = append(b, `{"properties":`...)
	switch props {
	case propsBlank:
		b = append(b, "{}"...)
	case propsVerbatim:
		b = appendVerbatim(b, e.Properties)
	default:
		b = appendCompact(b, e.Properties)
	}
	b = append(b, `,"metric":{"data":{"type":"metric","attributes":{"name":`...)
	b = jsonw.AppendString(b, e.Metric)
	b = append(b, "}}}"...)
	if withProfile {
		b = append(b, `,"profile":{"data":{"type":"profile","attributes":`...)
		b = appendProfile(b, &e.Profile)
		b = append(b, "}}"...)
	}
	if !e.Time.IsZero() {
		// FormatTime's text: digits, '-', ':', 'T' and 'Z', nothing to
		// escape.
		b = append(b, `,"time":"`...)
		b = e.Time.UTC().Truncate(time.Second).AppendFormat(b, time.RFC3339)
		b = append(b, '"')
	}
	if e.Value.IsSet() {
		b = append(b, `,"value":`...)
		b = e.Value.AppendText(b)
	}
	b = appendMember(b, true, "value_currency", e.ValueCurrency)
	b = appendMember(b, true, "unique_id", e.UniqueID)
	if e.Backfill {
		b = append(b, `,"backfill":true`...)
	}
	return append(b, '}')
}

// eventSizeHint is close to the length of e's attributes without the
// profile when nothing needs escaping.
func eventSizeHint(e *Event) int {
	return len(e.Properties) + len(e.Metric) + len(e.ValueCurrency) + len(e.UniqueID) +
		len(`{"properties":{},"metric":{"data":{"type":"metric","attributes":{"name":""}}},"time":"2006-01-02T15:04:05Z","value":-92233720368547758.07,"value_currency":"","unique_id":"","backfill":true}`)
}

// profileSizeHint is close to the length of p's JSON when nothing needs
// escaping.
func profileSizeHint(p *Profile) int {
	n := len(`{"data":{"type":"profile","attributes":{}}}`) + len(p.Email) + len(p.PhoneNumber) + len(p.ExternalID) + len(p.Kx) +
		len(p.AnonymousID) + len(p.FirstName) + len(p.LastName) + 7*len(`,"phone_number":""`)
	if l := p.Location; l != nil {
		n += len(`,"location":{}`) + len(l.Address1) + len(l.Address2) + len(l.City) + len(l.Country) + len(l.Region) + len(l.Zip) + len(l.IP) + 7*len(`,"address1":""`)
	}
	return n
}

// DedupKey is what Klaviyo dedupes an event by: the profile, the metric and
// the unique_id (or, without one, the time to the second).
func (e Event) DedupKey() string {
	id := e.UniqueID
	if id == "" {
		id = "time:" + FormatTime(e.Time)
	}
	return e.Profile.Key() + "\x00" + e.Metric + "\x00" + id
}
