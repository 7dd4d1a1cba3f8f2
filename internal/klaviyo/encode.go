package klaviyo

import (
	"bytes"
	"fmt"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/snippetd/snippetd/internal/apperr"
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

// Encoded is an event checked against Klaviyo's limits and written in its
// JSON:API form, in two parts because the two event endpoints nest them
// differently: what the outbox stores, and what a Sender sends. The
// request bodies are these bytes with a fixed frame around them, so an
// event is validated and encoded once, when it is queued.
type Encoded struct {
	// UniqueID is the event's unique_id (also inside Attributes), for
	// the local sink's index.
	UniqueID string
	// Attributes are the attributes of the event resource without the
	// profile, as a bulk job carries them.
	Attributes jsontext.Value
	// Profile are the attributes of the event's profile resource.
	Profile jsontext.Value
	// ProfileAt is the offset in Attributes, just after the metric, at
	// which POST /api/events carries the profile (where Klaviyo's
	// examples put it).
	ProfileAt int
}

// The JSON:API documents, field order as in Klaviyo's examples.

type jsonapiData[T any] struct {
	Data T `json:"data"`
}

type resource[T any] struct {
	Type       string `json:"type"`
	Attributes T      `json:"attributes"`
}

type metricAttributes struct {
	Name string `json:"name"`
}

// eventHead and eventTail are an event resource's attributes before and
// after the place of the profile.
type eventHead struct {
	Properties jsontext.Value                          `json:"properties"`
	Metric     jsonapiData[resource[metricAttributes]] `json:"metric"`
}

type eventTail struct {
	Time          string     `json:"time,omitempty"`
	Value         shop.Money `json:"value,omitzero"`
	ValueCurrency string     `json:"value_currency,omitempty"`
	UniqueID      string     `json:"unique_id,omitempty"`
	Backfill      bool       `json:"backfill,omitzero"`
}

// encodeOptions write strings as encoding/json does for the parts that
// matter to Klaviyo: invalid UTF-8 becomes U+FFFD, and properties keep
// duplicate names.
var encodeOptions = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// FormatTime renders t as Klaviyo keeps it: UTC, truncated to the second.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// Encode checks e against Klaviyo's documented limits as of now (see
// ValidateAt) and encodes it. The error names the field as ValidateAt's
// does, except for an event over 5 MB, which is a *TooLargeError. The
// properties are read once: the check writes them as they are sent.
func Encode(e Event, now time.Time) (Encoded, error) {
	w := propertiesWriters.Get().(*propertiesWriter)
	defer w.release()
	props, err := e.check(now, w)
	if err != nil {
		return Encoded{}, err
	}
	enc, err := encodeWith(e, props) // copies props out of w
	if err != nil {
		return Encoded{}, err
	}
	if n := enc.bodySize(); n > MaxPayloadBytes {
		return Encoded{}, &TooLargeError{Size: n}
	}
	return enc, nil
}

// encode writes e's JSON:API parts without checking its limits.
func encode(e Event) (Encoded, error) {
	props := jsontext.Value(e.Properties)
	if blankProperties(props) {
		props = jsontext.Value(`{}`)
	}
	// Unchecked properties: the encoder validates and compacts them.
	props, err := json.Marshal(props, encodeOptions)
	if err != nil {
		return Encoded{}, apperr.FieldErrorf("properties", "cannot be encoded: %v", err)
	}
	return encodeWith(e, props)
}

// The attributes before the metric name: properties first, then the
// metric, as in Klaviyo's examples.
const (
	propertiesOpen = `{"properties":`
	metricOpen     = `,"metric":{"data":{"type":"metric","attributes":{"name":`
	metricEnd      = `}}}`
)

// encodeWith writes e's JSON:API parts with props, properties already
// written as the JSON v2 encoder writes them.
func encodeWith(e Event, props jsontext.Value) (Encoded, error) {
	tail := eventTail{Value: e.Value, ValueCurrency: e.ValueCurrency, UniqueID: e.UniqueID, Backfill: e.Backfill}
	if !e.Time.IsZero() {
		tail.Time = FormatTime(e.Time)
	}
	rest, err := json.Marshal(tail, encodeOptions)
	if err != nil {
		return Encoded{}, apperr.FieldErrorf("value", "cannot be encoded: %v", err)
	}
	// One object: properties, metric, then the tail's members.
	attrs := make(jsontext.Value, 0, len(propertiesOpen)+len(props)+len(metricOpen)+len(e.Metric)+8+len(metricEnd)+len(rest))
	attrs = append(attrs, propertiesOpen...)
	attrs = append(attrs, props...)
	attrs = append(attrs, metricOpen...)
	// Invalid UTF-8 in the name is written as U+FFFD, as the encoder does.
	attrs, _ = jsontext.AppendQuote(attrs, e.Metric)
	attrs = append(attrs, metricEnd...)
	at := len(attrs)
	if len(rest) > len("{}") {
		attrs = append(attrs, ',')
		attrs = append(attrs, rest[1:]...)
	} else {
		attrs = append(attrs, '}')
	}
	profile, err := json.Marshal(e.Profile, encodeOptions)
	if err != nil {
		return Encoded{}, apperr.FieldErrorf("profile", "cannot be encoded: %v", err)
	}
	return Encoded{UniqueID: e.UniqueID, Attributes: attrs, Profile: profile, ProfileAt: at}, nil
}

// The frames of a single event's body.
const (
	eventOpen   = `{"data":{"type":"event","attributes":`
	profileOpen = `,"profile":{"data":{"type":"profile","attributes":`
	profileEnd  = `}}`
	eventEnd    = `}}`
)

func (enc Encoded) bodySize() int {
	return len(eventOpen) + len(enc.Attributes) + len(profileOpen) + len(enc.Profile) + len(profileEnd) + len(eventEnd)
}

// Body returns the JSON:API body of POST /api/events for the event: its
// attributes with the profile in place, framed.
func (enc Encoded) Body() []byte {
	b := make([]byte, 0, enc.bodySize())
	b = append(b, eventOpen...)
	b = append(b, enc.Attributes[:enc.ProfileAt]...)
	b = append(b, profileOpen...)
	b = append(b, enc.Profile...)
	b = append(b, profileEnd...)
	b = append(b, enc.Attributes[enc.ProfileAt:]...)
	return append(b, eventEnd...)
}

// The frames of a bulk job's body, field order as in Klaviyo's example.
const (
	bulkOpen        = `{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":[`
	bulkEntryOpen   = `{"type":"event-bulk-create","attributes":{"profile":{"data":{"type":"profile","attributes":`
	bulkEventsOpen  = `}},"events":{"data":[`
	bulkEventOpen   = `{"type":"event","attributes":`
	bulkEventEnd    = `}`
	bulkEntryEnd    = `]}}}`
	bulkEnd         = `]}}}}`
	bulkEntryFrames = len(bulkEntryOpen) + len(bulkEventsOpen) + len(bulkEntryEnd) + 1
	bulkEventFrames = len(bulkEventOpen) + len(bulkEventEnd) + 1
)

// BulkBody returns the JSON:API body of POST /api/event-bulk-create-jobs:
// one entry per distinct profile (in order of first appearance), each with
// its events in their original order. Events whose profiles share an
// identifier but differ in attributes get separate entries, so no profile
// attribute is lost. It does not enforce the batch limits. The parts are
// framed as they are: Encode validated and wrote them, so nothing scans
// them again.
func BulkBody(events []Encoded) ([]byte, error) {
	type entry struct {
		profile jsontext.Value
		events  []int
	}
	var entries []entry
	index := map[string]int{}
	n := len(bulkOpen) + len(bulkEnd)
	for k, e := range events {
		i, ok := index[string(e.Profile)]
		if !ok {
			i = len(entries)
			index[string(e.Profile)] = i
			entries = append(entries, entry{profile: e.Profile})
			n += bulkEntryFrames + len(e.Profile)
		}
		entries[i].events = append(entries[i].events, k)
		n += bulkEventFrames + len(e.Attributes)
	}
	b := make([]byte, 0, n)
	b = append(b, bulkOpen...)
	for i, en := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, bulkEntryOpen...)
		b = append(b, en.profile...)
		b = append(b, bulkEventsOpen...)
		for j, k := range en.events {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, bulkEventOpen...)
			b = append(b, events[k].Attributes...)
			b = append(b, bulkEventEnd...)
		}
		b = append(b, bulkEntryEnd...)
	}
	return append(b, bulkEnd...), nil
}

// storedOptions read stored parts back: properties may repeat a name.
var storedOptions = jsontext.AllowDuplicateNames(true)

// EncodeEvent returns the JSON:API body of POST /api/events for e (the
// current shape, revision 2023-07-15 and later). It does not check e's
// limits; Encode does.
func EncodeEvent(e Event) ([]byte, error) {
	enc, err := encode(e)
	if err != nil {
		return nil, err
	}
	return enc.Body(), nil
}

// Event decodes enc back into the event it was encoded from, as Klaviyo
// will see it: the time to the second in UTC, invalid UTF-8 replaced. The
// inspector shows stored events this way.
func (enc Encoded) Event() (Event, error) {
	var a struct {
		Head eventHead `json:",inline"`
		Tail eventTail `json:",inline"`
	}
	if err := json.Unmarshal(enc.Attributes, &a, storedOptions); err != nil {
		return Event{}, fmt.Errorf("klaviyo: decode event attributes: %w", err)
	}
	e := Event{
		Metric: a.Head.Metric.Data.Attributes.Name, Properties: bytes.Clone(a.Head.Properties),
		Value: a.Tail.Value, ValueCurrency: a.Tail.ValueCurrency, UniqueID: a.Tail.UniqueID, Backfill: a.Tail.Backfill,
	}
	if a.Tail.Time != "" {
		t, err := time.Parse(time.RFC3339, a.Tail.Time)
		if err != nil {
			return Event{}, fmt.Errorf("klaviyo: decode event time: %w", err)
		}
		e.Time = t
	}
	if err := json.Unmarshal(enc.Profile, &e.Profile); err != nil {
		return Event{}, fmt.Errorf("klaviyo: decode profile: %w", err)
	}
	return e, nil
}
