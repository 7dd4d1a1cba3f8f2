package klaviyo_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/shop"
)

// The JSON:API documents as the JSON v2 encoder writes them from structs:
// the reference the hand-framed bodies must equal byte for byte.
type (
	refData[T any] struct {
		Data T `json:"data"`
	}
	refResource[T any] struct {
		Type       string `json:"type"`
		Attributes T      `json:"attributes"`
	}
	refEntry struct {
		Profile refData[refResource[jsontext.Value]]   `json:"profile"`
		Events  refData[[]refResource[jsontext.Value]] `json:"events"`
	}
	refJob struct {
		EventsBulkCreate refData[[]refResource[refEntry]] `json:"events-bulk-create"`
	}
	refHead struct {
		Properties jsontext.Value                  `json:"properties"`
		Metric     refData[refResource[refMetric]] `json:"metric"`
	}
	refMetric struct {
		Name string `json:"name"`
	}
	refTail struct {
		Time          string     `json:"time,omitempty"`
		Value         shop.Money `json:"value,omitzero"`
		ValueCurrency string     `json:"value_currency,omitempty"`
		UniqueID      string     `json:"unique_id,omitempty"`
		Backfill      bool       `json:"backfill,omitzero"`
	}
)

var refOptions = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

func refBulk(t *testing.T, events []klaviyo.Encoded) []byte {
	t.Helper()
	entries := []refResource[refEntry]{}
	index := map[string]int{}
	for _, e := range events {
		i, ok := index[string(e.Profile)]
		if !ok {
			i = len(entries)
			index[string(e.Profile)] = i
			entries = append(entries, refResource[refEntry]{"event-bulk-create", refEntry{
				Profile: refData[refResource[jsontext.Value]]{refResource[jsontext.Value]{"profile", e.Profile}},
				Events:  refData[[]refResource[jsontext.Value]]{[]refResource[jsontext.Value]{}},
			}})
		}
		ev := &entries[i].Attributes.Events.Data
		*ev = append(*ev, refResource[jsontext.Value]{"event", e.Attributes})
	}
	b, err := json.Marshal(refData[refResource[refJob]]{refResource[refJob]{
		"event-bulk-create-job", refJob{refData[[]refResource[refEntry]]{entries}},
	}}, jsontext.AllowDuplicateNames(true))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refAttributes is an event's attributes without the profile as the
// encoder writes them from structs.
func refAttributes(t *testing.T, e klaviyo.Event) []byte {
	t.Helper()
	props := jsontext.Value(e.Properties)
	if t := bytes.TrimSpace(props); len(t) == 0 || string(t) == "null" {
		props = jsontext.Value(`{}`)
	}
	head := refHead{Properties: props}
	head.Metric.Data = refResource[refMetric]{"metric", refMetric{e.Metric}}
	h, err := json.Marshal(head, refOptions)
	if err != nil {
		t.Fatal(err)
	}
	tail := refTail{Value: e.Value, ValueCurrency: e.ValueCurrency, UniqueID: e.UniqueID, Backfill: e.Backfill}
	if !e.Time.IsZero() {
		tail.Time = klaviyo.FormatTime(e.Time)
	}
	r, err := json.Marshal(tail, refOptions)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), h[:len(h)-1]...)
	if len(r) > 2 {
		return append(append(out, ','), r[1:]...)
	}
	return append(out, '}')
}

// refProperties are properties whose encoding is not a plain copy:
// whitespace, script-safe escapes, invalid UTF-8, repeated names, numbers
// in every form.
var refProperties = []string{
	``, `null`, ` {} `, `{}`,
	`{"a":1}`,
	"{ \"a\" : [ 1 , 2.50 , -0 , 1e5 , 1E-2 ] ,\n\t\"b\" : { } }",
	`{"s":"\u003c/script\u003e \u0026 \u2028\u2029 \/ \u00e9 é 😀 \"q\" \\ \n"}`,
	"{\"bad\":\"\xff\xfe\",\"ok\":\"x\"}",
	`{"dup":1,"dup":2,"Dup":3}`,
	`{"n":null,"t":true,"f":false,"deep":[[[{"x":[]}]]]}`,
	`{"\u0041":"key escaped"}`,
	`{"big":12345678901234567890123,"neg":-1.0000}`,
}

func refEvents(t *testing.T) []klaviyo.Event {
	value, err := shop.ParseMoney("12.50")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var evs []klaviyo.Event
	for i, p := range refProperties {
		e := klaviyo.Event{
			Metric: "Placed Order", Properties: []byte(p), Time: at,
			Profile: klaviyo.Profile{Email: []string{"a@example.com", "b@example.com", "<c>@example.com"}[i%3]},
		}
		if i%2 == 0 {
			e.UniqueID, e.Value, e.ValueCurrency = "u"+string(rune('a'+i)), value, "USD"
		}
		if i%3 == 2 {
			e.Metric = "Placed <Order> & \u2028 é \xff \"x\""
		}
		if i%4 == 1 {
			e.Time, e.Backfill = time.Time{}, true
		}
		evs = append(evs, e)
	}
	return evs
}

func TestEncodeIsTheReference(t *testing.T) {
	var encs []klaviyo.Encoded
	for _, e := range refEvents(t) {
		enc, err := klaviyo.Encode(e, e.Time.Add(time.Hour))
		if err != nil {
			t.Fatalf("%s: %v", e.Properties, err)
		}
		if want := refAttributes(t, e); !bytes.Equal(enc.Attributes, want) {
			t.Errorf("%q: attributes\n got %s\nwant %s", e.Properties, enc.Attributes, want)
		}
		encs = append(encs, enc)
	}
	for n := 0; n <= len(encs); n++ {
		got, err := klaviyo.BulkBody(encs[:n])
		if err != nil {
			t.Fatal(err)
		}
		if want := refBulk(t, encs[:n]); !bytes.Equal(got, want) {
			t.Errorf("bulk of %d\n got %s\nwant %s", n, got, want)
		}
	}
}

// FuzzEncodeIsTheReference: whatever properties Encode takes, it writes
// them as the JSON v2 encoder writes a jsontext.Value.
//
//	go test ./internal/klaviyo -run '^$' -fuzz FuzzEncodeIsTheReference -fuzztime 10s
func FuzzEncodeIsTheReference(f *testing.F) {
	for _, p := range refProperties {
		f.Add([]byte(p))
	}
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, props []byte) {
		e := klaviyo.Event{Metric: "m", Properties: props, Time: at, Profile: klaviyo.Profile{Email: "a@example.com"}}
		enc, err := klaviyo.Encode(e, at)
		if err != nil {
			return
		}
		if want := refAttributes(t, e); !bytes.Equal(enc.Attributes, want) {
			t.Fatalf("%q: attributes\n got %s\nwant %s", props, enc.Attributes, want)
		}
	})
}
