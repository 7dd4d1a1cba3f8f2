package klaviyo_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/shop"
)

// checkEncode fails unless EncodeEvent of each event and EncodeBulk of
// all of them give json.Marshal's bytes (encodeEventReflect's,
// encodeBulkReflect's), or their errors, and CheckAndEncodeEvent and
// CheckAndEncodeBulk give what the checks and then the encoders give.
func checkEncode(t *testing.T, events ...klaviyo.Event) {
	t.Helper()
	same := func(what string, want []byte, wantErr error, got []byte, err error) {
		t.Helper()
		switch {
		case (wantErr == nil) != (err == nil):
			t.Fatalf("%s: json.Marshal gives %q, %v; the encoder %q, %v", what, want, wantErr, got, err)
		case wantErr != nil:
			if wantErr.Error() != err.Error() || got != nil {
				t.Fatalf("%s: errors differ: json.Marshal %q, the encoder %q (and %q)", what, wantErr, err, got)
			}
		default:
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Fatalf("%s differs from json.Marshal (-want +got):\n%s", what, diff)
			}
		}
	}
	for i, e := range events {
		want, wantErr := klaviyo.EncodeEventReflect(e)
		got, err := klaviyo.EncodeEvent(e)
		same(fmt.Sprintf("EncodeEvent of event %d", i), want, wantErr, got, err)
	}
	want, wantErr := klaviyo.EncodeBulkReflect(events)
	got, err := klaviyo.EncodeBulk(events)
	same("EncodeBulk", want, wantErr, got, err)

	// The fused check and encode: the checks' error, else the encoder's
	// result.
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i, e := range events {
		want, wantErr := klaviyo.EncodeEvent(e)
		if err := e.ValidateAt(now); err != nil {
			want, wantErr = nil, err
		}
		got, err := klaviyo.CheckAndEncodeEvent(e, now)
		same(fmt.Sprintf("CheckAndEncodeEvent of event %d", i), want, wantErr, got, err)
	}
	want, wantErr = klaviyo.EncodeBulk(events)
	if err := klaviyo.CheckBatch(events, now); err != nil {
		want, wantErr = nil, err
	}
	got, err = klaviyo.CheckAndEncodeBulk(events, now)
	same("CheckAndEncodeBulk", want, wantErr, got, err)
}

// TestEncodeMatchesReflection: EncodeEvent and EncodeBulk write what
// json.Marshal writes for every kind of event, and group a bulk request's
// events by profile as it does.
func TestEncodeMatchesReflection(t *testing.T) {
	with := func(mod func(*klaviyo.Event)) klaviyo.Event {
		e := viewedProduct()
		mod(&e)
		return e
	}
	props := func(p string) klaviyo.Event {
		return with(func(e *klaviyo.Event) { e.Properties = json.RawMessage(p) })
	}
	tricky := "a<b>c&d\"e\\f/g\x00\x01\x08\x0c\n\r\t\x1f\x7f é 😀 \u2028\u2029 \xff \xe2\x80 \xed\xa0\x80 end"
	single := map[string]klaviyo.Event{
		"viewed product": viewedProduct(),
		"every field":    fullEvent(),
		"sample":         sampleEvent("1001"),
		"zero event":     {},
		"tricky strings": {Metric: tricky, Profile: klaviyo.Profile{Email: tricky, PhoneNumber: tricky, ExternalID: tricky, Kx: tricky, AnonymousID: tricky,
			FirstName: tricky, LastName: tricky, Location: &klaviyo.Location{tricky, tricky, tricky, tricky, tricky, tricky, tricky}},
			Properties: json.RawMessage(`{}`), ValueCurrency: tricky, UniqueID: tricky},
		"all bytes":                   {Metric: allBytes(), UniqueID: allBytes()},
		"empty location":              with(func(e *klaviyo.Event) { e.Profile.Location = &klaviyo.Location{} }),
		"location only":               {Profile: klaviyo.Profile{Location: &klaviyo.Location{City: "Oslo"}}},
		"nil properties":              props(""),
		"null properties":             props(" null "),
		"blank properties":            props(" \n"),
		"unicode-blank properties":    props("\u00a0null\u0085"),
		"spaced properties":           props(" \t\n{ \"a b\" : [ 1 , 2.5e-3 , true , null , \"x y\" ] ,\r\n \"c\" : { } } \n"),
		"html in properties":          props(`{"<a href=\"x\">":"a&b<c>d","s":"\u2028` + "\u2029" + `"}`),
		"invalid utf-8 in properties": props("{\"a\":\"\xff\xe2\x80 \xed\xa0\x80\",\"\xfe\":1}"),
		"array properties":            props(` [1, {"a" : "<"}] `),
		"string properties":           props(`"a < b"`),
		"truncated properties":        props(`{"a":1`),
		"two objects":                 props(`{} {}`),
		"properties over the limits":  props(`{"a":"` + strings.Repeat("x", klaviyo.MaxStringBytes) + `"}`),
		"deep properties":             props(`{"a":` + strings.Repeat(`[`, 12) + strings.Repeat(`]`, 12) + `}`),
		"time with nanoseconds":       with(func(e *klaviyo.Event) { e.Time = time.Unix(1700000000, 999999999) }),
		"time in a zone": with(func(e *klaviyo.Event) {
			e.Time = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", -(3*3600+30*60)))
		}),
		"year 10000":     with(func(e *klaviyo.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"year -1":        with(func(e *klaviyo.Event) { e.Time = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"value zero":     with(func(e *klaviyo.Event) { e.Value = shop.Cents(0) }),
		"negative value": with(func(e *klaviyo.Event) { e.Value = shop.Cents(-5) }),
		"largest value":  with(func(e *klaviyo.Event) { e.Value = shop.Cents(math.MaxInt64) }),
		"smallest value": with(func(e *klaviyo.Event) { e.Value = shop.Cents(math.MinInt64) }),
		"backfill":       with(func(e *klaviyo.Event) { e.Backfill = true }),
	}
	for name, e := range single {
		t.Run(name, func(t *testing.T) { checkEncode(t, e, viewedProduct()) })
	}
	second := sampleEvent("1002")
	second.Metric = "Ordered Product"
	phone := sampleEvent("1003")
	phone.Profile = klaviyo.Profile{PhoneNumber: "+15005550006"}
	renamed := sampleEvent("1004")
	renamed.Profile.FirstName = "Sally"
	for name, events := range map[string][]klaviyo.Event{
		"none":                        {},
		"one":                         {sampleEvent("1001")},
		"profiles interleaved":        {sampleEvent("1001"), phone, second, viewedProduct(), phone},
		"same identifier, new name":   {sampleEvent("1001"), renamed, second},
		"one profile, many events":    {viewedProduct(), viewedProduct(), with(func(e *klaviyo.Event) { e.UniqueID = "2" })},
		"a refused event among many":  {sampleEvent("1001"), props(`[1]`), second},
		"an amount without JSON form": {sampleEvent("1001"), single["smallest value"]},
	} {
		t.Run("bulk/"+name, func(t *testing.T) { checkEncode(t, events...) })
	}
}

// TestEncodeAllocatesOnce: the encoders write typical events themselves
// (json.Marshal allocates several times), into one buffer sized right.
func TestEncodeAllocatesOnce(t *testing.T) {
	for _, e := range []klaviyo.Event{viewedProduct(), fullEvent(), sampleEvent("1001")} {
		if n := testing.AllocsPerRun(100, func() { klaviyo.EncodeEvent(e) }); n != 1 {
			t.Errorf("EncodeEvent of %s: %v allocations, want 1", e.Metric, n)
		}
	}
	events := []klaviyo.Event{viewedProduct(), viewedProduct(), viewedProduct()}
	// At most the buffer, the profiles' encodings, the entries and their
	// lists: no index for one profile.
	if n := testing.AllocsPerRun(100, func() { klaviyo.EncodeBulk(events) }); n > 4 {
		t.Errorf("EncodeBulk: %v allocations, want at most 4", n)
	}
}

// FuzzEncode: for any field values, EncodeEvent and EncodeBulk give
// json.Marshal's bytes, or its error. The bulk request holds the event,
// one for another profile, and the event again.
//
//	go test ./klaviyo -run '^$' -fuzz '^FuzzEncode$' -fuzztime 2m -parallel 1
func FuzzEncode(f *testing.F) {
	addEventSeeds(f)
	f.Fuzz(func(t *testing.T, metric, s string, set uint32, props []byte, sec, nsec int64, offset int, cents int64) {
		e := fuzzEvent(metric, s, set, props, sec, nsec, offset, cents)
		other := e
		other.Profile.FirstName += "x"
		checkEncode(t, e, other, e)
	})
}

// BenchmarkEncodeBulk compares the json.Marshal encoder with EncodeBulk on
// 1,000 of the proxy's typical events of one profile.
//
//	go test ./klaviyo -run '^$' -bench EncodeBulk -benchmem
func BenchmarkEncodeBulk(b *testing.B) {
	events := make([]klaviyo.Event, 1000)
	for i := range events {
		events[i] = viewedProduct()
		events[i].UniqueID = strings.Repeat("x", 30) + string(rune('a'+i%26))
	}
	for name, enc := range map[string]func([]klaviyo.Event) ([]byte, error){"json.Marshal": klaviyo.EncodeBulkReflect, "EncodeBulk": klaviyo.EncodeBulk} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc(events); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
		})
	}
}
