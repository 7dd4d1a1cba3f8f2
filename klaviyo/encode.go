package klaviyo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

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
// call Validate first.
func EncodeEvent(e Event) ([]byte, error) {
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
func EncodeBulk(events []Event) ([]byte, error) {
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

// DedupKey is what Klaviyo dedupes an event by: the profile, the metric and
// the unique_id (or, without one, the time to the second).
func (e Event) DedupKey() string {
	id := e.UniqueID
	if id == "" {
		id = "time:" + FormatTime(e.Time)
	}
	return e.Profile.Key() + "\x00" + e.Metric + "\x00" + id
}
