package klaviyo_test

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/shop"
)

// checkParseEvent fails unless ParseEvent(data) gives what json.Unmarshal
// gives into a zero Event: the same event (time zones, nil and empty
// slices and pointers included) or the same error.
func checkParseEvent(t *testing.T, data []byte) {
	t.Helper()
	var want klaviyo.Event
	wantErr := json.Unmarshal(data, &want)
	got, err := klaviyo.ParseEvent(data)
	switch {
	case wantErr != nil && err == nil:
		t.Fatalf("%q: json.Unmarshal fails (%v), ParseEvent gives %+v", data, wantErr, got)
	case wantErr == nil && err != nil:
		t.Fatalf("%q: json.Unmarshal gives %+v, ParseEvent fails: %v", data, want, err)
	case wantErr != nil:
		if wantErr.Error() != err.Error() {
			t.Fatalf("%q: errors differ: json.Unmarshal %q, ParseEvent %q", data, wantErr, err)
		}
	case !reflect.DeepEqual(want, got) || !sameZone(want.Time, got.Time):
		t.Fatalf("%q: ParseEvent differs from json.Unmarshal (-want +got):\n%s\ntime zones %v, %v", data, cmp.Diff(want, got, cmp.AllowUnexported(shop.Money{})), want.Time.Location(), got.Time.Location())
	}
}

// sameZone reports whether a and b are in the same zone: both in Local,
// both in UTC, or both in a fixed zone of the same name and offset.
func sameZone(a, b time.Time) bool {
	an, ao := a.Zone()
	bn, bo := b.Zone()
	return (a.Location() == time.Local) == (b.Location() == time.Local) && (a.Location() == time.UTC) == (b.Location() == time.UTC) && an == bn && ao == bo
}

// parseCases are events whose AppendJSON output ParseEvent must decode as
// json.Unmarshal does; canonical marks those it must decode itself.
func parseCases() map[string]struct {
	e         klaviyo.Event
	canonical bool
} {
	with := func(mod func(*klaviyo.Event)) klaviyo.Event {
		e := viewedProduct()
		mod(&e)
		return e
	}
	tricky := "a<b>c&d\"e\\f/g\x00\x01\n\x7f é 😀 \u2028 \xff end"
	type c = struct {
		e         klaviyo.Event
		canonical bool
	}
	return map[string]c{
		"viewed product": {viewedProduct(), true},
		"every field":    {fullEvent(), true},
		"sample event":   {sampleEvent("1001"), true},
		"empty location": {with(func(e *klaviyo.Event) { e.Profile.Location = &klaviyo.Location{} }), true},
		"no location":    {with(func(e *klaviyo.Event) { e.Profile.Location = nil }), true},
		"empty profile":  {with(func(e *klaviyo.Event) { e.Profile = klaviyo.Profile{} }), true},
		"zero time":      {with(func(e *klaviyo.Event) { e.Time = time.Time{} }), true},
		"time in a zone": {with(func(e *klaviyo.Event) {
			e.Time = time.Date(2026, 3, 4, 5, 6, 7, 8, time.FixedZone("", -(3*3600+30*60)))
		}), true},
		"local time":       {with(func(e *klaviyo.Event) { e.Time = time.Date(2026, 3, 4, 5, 6, 7, 8, time.Local) }), true},
		"value":            {with(func(e *klaviyo.Event) { e.Value = shop.Cents(-1999) }), true},
		"largest value":    {with(func(e *klaviyo.Event) { e.Value = shop.Cents(math.MaxInt64) }), false}, // shop.Money cannot decode it
		"backfill":         {with(func(e *klaviyo.Event) { e.Backfill = true }), true},
		"no unique id":     {with(func(e *klaviyo.Event) { e.UniqueID = "" }), true},
		"unicode":          {with(func(e *klaviyo.Event) { e.Metric, e.Profile.FirstName = "Vue produit é", "Zoë 😀" }), true},
		"html in props":    {with(func(e *klaviyo.Event) { e.Properties = json.RawMessage(`{"a":"<b>&\u2028","c":[1,{"d":null}]}`) }), true},
		"escapes in props": {with(func(e *klaviyo.Event) { e.Properties = json.RawMessage(`{"a\"}":"\\\"]}","b":"\\"}`) }), true},
		"spaced props":     {with(func(e *klaviyo.Event) { e.Properties = json.RawMessage(" { \"a\" : [ 1 , 2 ] } ") }), true},
		"bad utf-8 props":  {with(func(e *klaviyo.Event) { e.Properties = json.RawMessage("{\"a\":\"\xff\"}") }), true},

		"tricky strings": {klaviyo.Event{Metric: tricky, Profile: klaviyo.Profile{Email: tricky, Kx: tricky,
			Location: &klaviyo.Location{City: tricky}}, Properties: json.RawMessage(`{}`), UniqueID: tricky}, false},
		"nil properties":   {with(func(e *klaviyo.Event) { e.Properties = nil }), false},
		"array properties": {with(func(e *klaviyo.Event) { e.Properties = json.RawMessage(`[1]`) }), false},
		"props over limits": {with(func(e *klaviyo.Event) {
			e.Properties = json.RawMessage(`{"a":"` + strings.Repeat("x", klaviyo.MaxStringBytes) + `"}`)
		}), false},
		"zero event": {klaviyo.Event{}, false},
	}
}

// TestParseEventMatchesUnmarshal: on AppendJSON's output of every kind of
// event, and on JSON that AppendJSON does not write, ParseEvent agrees with
// json.Unmarshal; the events AppendJSON writes in its canonical form take
// the fast path.
func TestParseEventMatchesUnmarshal(t *testing.T) {
	for name, c := range parseCases() {
		t.Run(name, func(t *testing.T) {
			data, err := c.e.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			checkParseEvent(t, data)
			if _, ok := klaviyo.ParseCanonical(data); ok != c.canonical {
				t.Errorf("fast path taken: %v, want %v, for %s", ok, c.canonical, data)
			}
		})
	}
	vp, _ := viewedProduct().AppendJSON(nil)
	for name, data := range map[string]string{
		"whitespace":           " " + string(vp) + "\n",
		"trailing garbage":     string(vp) + "x",
		"truncated":            string(vp[:len(vp)-1]),
		"members reordered":    `{"profile":{"_kx":"k"},"metric":"m","properties":{}}`,
		"key in other case":    `{"Metric":"m","profile":{"_kx":"k"},"properties":{}}`,
		"unknown member":       `{"metric":"m","profile":{"_kx":"k"},"properties":{},"extra":1}`,
		"repeated member":      `{"metric":"m","profile":{"_kx":"k"},"properties":{},"unique_id":"a","unique_id":"b"}`,
		"escaped metric":       `{"metric":"a\u003cb\"","profile":{"_kx":"k"},"properties":{}}`,
		"invalid utf-8 metric": "{\"metric\":\"a\xffb\",\"profile\":{\"_kx\":\"k\"},\"properties\":{}}",
		"control byte":         "{\"metric\":\"a\x01\",\"profile\":{\"_kx\":\"k\"},\"properties\":{}}",
		"null properties":      `{"metric":"m","profile":{"_kx":"k"},"properties":null}`,
		"null location":        `{"metric":"m","profile":{"_kx":"k","location":null},"properties":{}}`,
		"empty strings":        `{"metric":"","profile":{"email":"","_kx":"k"},"properties":{},"unique_id":""}`,
		"unclosed properties":  `{"metric":"m","profile":{"_kx":"k"},"properties":{"a":[}`,
		"mismatched brackets":  `{"metric":"m","profile":{"_kx":"k"},"properties":{"a":[1}]}`,
		"unterminated string":  `{"metric":"m","profile":{"_kx":"k"},"properties":{"a":"}`,
		"bad time":             `{"metric":"m","profile":{"_kx":"k"},"properties":{},"time":"yesterday"}`,
		"time not a string":    `{"metric":"m","profile":{"_kx":"k"},"properties":{},"time":1}`,
		"value as a string":    `{"metric":"m","profile":{"_kx":"k"},"properties":{},"value":"1"}`,
		"value with exponent":  `{"metric":"m","profile":{"_kx":"k"},"properties":{},"value":1.5e2}`,
		"value half a cent":    `{"metric":"m","profile":{"_kx":"k"},"properties":{},"value":0.005}`,
		"bad number":           `{"metric":"m","profile":{"_kx":"k"},"properties":{},"value":01}`,
		"backfill false":       `{"metric":"m","profile":{"_kx":"k"},"properties":{},"backfill":false}`,
		"backfill a string":    `{"metric":"m","profile":{"_kx":"k"},"properties":{},"backfill":"true"}`,
		"not an object":        `[]`,
		"empty":                ``,
	} {
		t.Run(name, func(t *testing.T) { checkParseEvent(t, []byte(data)) })
	}
}

// FuzzParseEvent: on any input, ParseEvent agrees with json.Unmarshal. The
// seeds are AppendJSON's output, which the fuzzer mutates.
//
//	go test ./klaviyo -run '^$' -fuzz '^FuzzParseEvent$' -fuzztime 2m -parallel 1
func FuzzParseEvent(f *testing.F) {
	for _, c := range parseCases() {
		data, _ := c.e.AppendJSON(nil)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkParseEvent(t, data) })
}

// BenchmarkEventDecode compares json.Unmarshal and ParseEvent on the
// proxy's typical event as the outbox stores it.
//
//	go test ./klaviyo -run '^$' -bench EventDecode -benchmem
func BenchmarkEventDecode(b *testing.B) {
	data, _ := viewedProduct().AppendJSON(nil)
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e klaviyo.Event
			if err := json.Unmarshal(data, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ParseEvent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := klaviyo.ParseEvent(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
