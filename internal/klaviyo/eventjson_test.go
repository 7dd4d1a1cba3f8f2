package klaviyo_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/shop"
)

// checkAppendJSON fails unless e.AppendJSON gives json.Marshal's bytes, or
// its error, and keeps what dst held.
func checkAppendJSON(t *testing.T, e klaviyo.Event) {
	t.Helper()
	want, wantErr := json.Marshal(e)
	prefix := []byte("prefix")
	got, err := e.AppendJSON(prefix[:len(prefix):len(prefix)])
	if len(got) < len(prefix) || string(got[:len(prefix)]) != "prefix" {
		t.Fatalf("AppendJSON lost dst: %q", got)
	}
	got = got[len(prefix):]
	switch {
	case wantErr != nil && err == nil:
		t.Fatalf("json.Marshal fails (%v), AppendJSON gives %q", wantErr, got)
	case wantErr == nil && err != nil:
		t.Fatalf("json.Marshal gives %q, AppendJSON fails: %v", want, err)
	case wantErr != nil:
		if wantErr.Error() != err.Error() {
			t.Fatalf("errors differ: json.Marshal %q, AppendJSON %q", wantErr, err)
		}
		if len(got) != 0 {
			t.Fatalf("AppendJSON failed but appended %q", got)
		}
	default:
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Fatalf("AppendJSON differs from json.Marshal (-want +got):\n%s", diff)
		}
	}
}

// viewedProduct is the proxy's typical event: a Viewed Product of about
// 200 bytes of properties, for a browser known by its _kx, with its IP.
func viewedProduct() klaviyo.Event {
	return klaviyo.Event{
		Metric:  "Viewed Product",
		Profile: klaviyo.Profile{Kx: "Vx5w9uSRoQmDLJ1ItIjPXCZY0R6w4VquEf2lnWIIgC4.TzqH4s", Location: &klaviyo.Location{IP: "203.0.113.42"}},
		Properties: json.RawMessage(`{"ProductName":"Stoneware Mug","ProductID":"p1001","SKU":"MUG-STN-12","Categories":["Kitchen","Mugs"],` +
			`"ImageURL":"https://shop.example/i/mug.jpg","URL":"https://shop.example/p/mug","Brand":"Acme","Price":12.5,"CompareAtPrice":15}`),
		Time:     time.Date(2026, 11, 27, 11, 59, 30, 0, time.UTC),
		UniqueID: "b7f3c2a1-9e4d-4c1b-8a2f-6d5e4c3b2a19",
	}
}

// fullEvent has every field set.
func fullEvent() klaviyo.Event {
	return klaviyo.Event{
		Metric: "Placed Order",
		Profile: klaviyo.Profile{Email: "a@example.com", PhoneNumber: "+15005550006", ExternalID: "x-1", Kx: "kx", AnonymousID: "anon",
			FirstName: "Ann", LastName: "Lee", Location: &klaviyo.Location{Address1: "1 Main St", Address2: "Apt 2", City: "Boston",
				Country: "US", Region: "MA", Zip: "02110", IP: "2001:db8::1"}},
		Properties:    json.RawMessage(`{"OrderId":"1","Total":29.98}`),
		Time:          time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		Value:         shop.Cents(2998),
		ValueCurrency: "USD",
		UniqueID:      "u-1",
		Backfill:      true,
	}
}

// TestAppendJSONMatchesMarshal: every field, escaping rule, omission rule
// and error of json.Marshal, case by case.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	tricky := "a<b>c&d\"e\\f/g\x00\x01\x08\x0c\n\r\t\x1f\x7f é 😀 \u2028\u2029 \xff \xe2\x80 \xed\xa0\x80 end"
	with := func(mod func(*klaviyo.Event)) klaviyo.Event {
		e := viewedProduct()
		mod(&e)
		return e
	}
	props := func(p string) klaviyo.Event {
		return with(func(e *klaviyo.Event) { e.Properties = json.RawMessage(p) })
	}
	cases := map[string]klaviyo.Event{
		"viewed product":           viewedProduct(),
		"every field":              fullEvent(),
		"zero event":               {},
		"only metric":              {Metric: "m"},
		"empty location":           with(func(e *klaviyo.Event) { e.Profile.Location = &klaviyo.Location{} }),
		"no location":              with(func(e *klaviyo.Event) { e.Profile.Location = nil }),
		"location only":            {Profile: klaviyo.Profile{Location: &klaviyo.Location{City: "Oslo"}}},
		"last location field only": {Profile: klaviyo.Profile{Location: &klaviyo.Location{IP: "::1"}}},
		"tricky strings": {Metric: tricky, Profile: klaviyo.Profile{Email: tricky, PhoneNumber: tricky, ExternalID: tricky, Kx: tricky, AnonymousID: tricky,
			FirstName: tricky, LastName: tricky, Location: &klaviyo.Location{tricky, tricky, tricky, tricky, tricky, tricky, tricky}},
			Properties: json.RawMessage(`{}`), ValueCurrency: tricky, UniqueID: tricky},
		"all bytes": {Metric: allBytes(), UniqueID: allBytes()},

		"nil properties":              with(func(e *klaviyo.Event) { e.Properties = nil }),
		"empty object":                props(`{}`),
		"spaced properties":           props(" \t\n{ \"a b\" : [ 1 , 2.5e-3 , true , null , \"x y\" ] ,\r\n \"c\" : { } } \n"),
		"escapes in properties":       props(`{"a\"b":"c\\","d":"\\\"","e\\":" \u003c\u2028\ud83d\ude00 ","f":"\/\b\f\n\r\t"}`),
		"html in properties":          props(`{"<a href=\"x\">":"a&b<c>d","url":"https://x.example/?a=1&b=2"}`),
		"line separators in props":    props("{\"a\":\"x\u2028y\u2029z\",\"b\":\"\u2028\"}"),
		"invalid utf-8 in properties": props("{\"a\":\"\xff\xe2\x80 \xed\xa0\x80\",\"\xfe\":1}"),
		"deep properties":             props(`{"a":` + strings.Repeat(`[`, 12) + strings.Repeat(`]`, 12) + `}`),
		"array properties":            props(` [1, {"a" : "<"}] `),
		"string properties":           props(`"a < b"`),
		"null properties":             props(`null`),
		"number properties":           props(` 1e3 `),
		"empty properties":            props(``),
		"blank properties":            props(" \n"),
		"truncated properties":        props(`{"a":1`),
		"properties with garbage":     props(`{"a":1}x`),
		"two objects":                 props(`{} {}`),
		"bad escape in properties":    props(`{"a":"\x"}`),
		"control byte in properties":  props("{\"a\":\"\x01\"}"),
		"bad number in properties":    props(`{"a":01}`),
		"properties over the limits":  props(`{"a":"` + strings.Repeat("x", klaviyo.MaxStringBytes) + `"}`),
		"zero time":                   with(func(e *klaviyo.Event) { e.Time = time.Time{} }),
		"zero time elsewhere":         with(func(e *klaviyo.Event) { e.Time = time.Time{}.In(time.FixedZone("X", 3600)) }),
		"time with nanoseconds":       with(func(e *klaviyo.Event) { e.Time = time.Unix(1700000000, 1) }),
		"time with monotonic clock":   with(func(e *klaviyo.Event) { e.Time = time.Now() }),
		"time in a zone": with(func(e *klaviyo.Event) {
			e.Time = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", -(3*3600+30*60)))
		}),
		"time with offset seconds":      with(func(e *klaviyo.Event) { e.Time = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600+30*60+15)) }),
		"time offset of a day":          with(func(e *klaviyo.Event) { e.Time = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", 24*3600)) }),
		"year 10000":                    with(func(e *klaviyo.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"year -1":                       with(func(e *klaviyo.Event) { e.Time = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"value zero":                    with(func(e *klaviyo.Event) { e.Value = shop.Cents(0) }),
		"value with one decimal":        with(func(e *klaviyo.Event) { e.Value = shop.Cents(990) }),
		"negative value":                with(func(e *klaviyo.Event) { e.Value = shop.Cents(-5) }),
		"largest value":                 with(func(e *klaviyo.Event) { e.Value = shop.Cents(math.MaxInt64) }),
		"smallest value (no JSON form)": with(func(e *klaviyo.Event) { e.Value = shop.Cents(math.MinInt64) }),
		"backfill":                      with(func(e *klaviyo.Event) { e.Backfill = true }),
		"currency without unique id":    with(func(e *klaviyo.Event) { e.ValueCurrency, e.UniqueID = "EUR", "" }),
	}
	for name, e := range cases {
		t.Run(name, func(t *testing.T) { checkAppendJSON(t, e) })
	}
}

// TestAppendJSONAllocatesOnce: AppendJSON(nil) sizes its buffer right the
// first time for events with nothing to escape.
func TestAppendJSONAllocatesOnce(t *testing.T) {
	for _, e := range []klaviyo.Event{viewedProduct(), fullEvent()} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := e.AppendJSON(nil); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 1 {
			t.Errorf("%s: %v allocations, want 1", e.Metric, allocs)
		}
	}
}

// allBytes is every byte value, then each byte from 0xc0 up followed by
// each byte around the continuation range (0x70-0xc7), so that every
// escaping and replacement path is taken.
func allBytes() string {
	var b []byte
	for c := range 256 {
		b = append(b, byte(c))
	}
	for c := 0xc0; c < 256; c++ {
		for d := 0x70; d < 0xc8; d++ {
			b = append(b, byte(c), byte(d), 'x')
		}
	}
	return string(b)
}

// FuzzAppendJSON: for any field values, AppendJSON gives json.Marshal's
// bytes, or its error. The bits of set choose which string fields hold s
// (few arguments keep the fuzzer's minimization quick) and which optional
// fields are present.
//
//	go test ./klaviyo -run '^$' -fuzz '^FuzzAppendJSON$' -fuzztime 2m -parallel 1
func FuzzAppendJSON(f *testing.F) {
	addEventSeeds(f)
	f.Fuzz(func(t *testing.T, metric, s string, set uint32, props []byte, sec, nsec int64, offset int, cents int64) {
		checkAppendJSON(t, fuzzEvent(metric, s, set, props, sec, nsec, offset, cents))
	})
}

// addEventSeeds adds the seeds of the fuzzers whose arguments fuzzEvent
// takes.
func addEventSeeds(f *testing.F) {
	const (
		location      = fuzzLocation
		hasTime       = fuzzTime
		hasValue      = fuzzValue
		nilProperties = fuzzNilProperties
		backfill      = fuzzBackfill
	)
	vp := viewedProduct()
	f.Add(vp.Metric, vp.Profile.Kx, uint32(1<<3|location|1<<13|1<<15|hasTime), []byte(vp.Properties), vp.Time.Unix(), int64(0), 0, int64(0))
	f.Add("Placed <Order> & \u2028", "a\n\x00\xff\xe2\x80\xa8", uint32(1<<17-1|location|hasTime|hasValue|backfill),
		[]byte(" { \"a\" : \"<\u2029\xff\" , \"b\":[1 ,2e5]} "), int64(1700000000), int64(123), 19800, int64(2998))
	f.Add("m", "anon", uint32(1<<4|hasTime|hasValue), []byte(`{"a":"\"\\ "}`), int64(253402300800), int64(0), 0, int64(math.MinInt64))
	f.Add("m", "anon", uint32(1<<4|hasTime), []byte(`{"a":1}x`), int64(0), int64(0), 86400, int64(0))
	f.Add("m", "anon", uint32(1<<4|nilProperties), []byte(nil), int64(0), int64(0), 0, int64(0))
}

// Bits of fuzzEvent's set beyond the string fields'.
const (
	fuzzLocation = 1 << (iota + 17)
	fuzzTime
	fuzzValue
	fuzzNilProperties
	fuzzBackfill
)

// fuzzEvent builds an event from a fuzzer's arguments: the bits of set
// choose which string fields hold s (few arguments keep the fuzzer's
// minimization quick) and which optional fields are present.
func fuzzEvent(metric, s string, set uint32, props []byte, sec, nsec int64, offset int, cents int64) klaviyo.Event {
	str := func(bit int) string {
		if set&(1<<bit) != 0 {
			return s
		}
		return ""
	}
	e := klaviyo.Event{
		Metric: metric,
		Profile: klaviyo.Profile{Email: str(0), PhoneNumber: str(1), ExternalID: str(2), Kx: str(3), AnonymousID: str(4),
			FirstName: str(5), LastName: str(6)},
		Properties:    json.RawMessage(props),
		ValueCurrency: str(14),
		UniqueID:      str(15),
		Backfill:      set&fuzzBackfill != 0,
	}
	if set&fuzzLocation != 0 {
		e.Profile.Location = &klaviyo.Location{Address1: str(7), Address2: str(8), City: str(9), Country: str(10),
			Region: str(11), Zip: str(12), IP: str(13)}
	}
	if set&fuzzNilProperties != 0 {
		e.Properties = nil
	}
	if set&fuzzTime != 0 {
		e.Time = time.Unix(sec, nsec).In(time.FixedZone("", offset))
	}
	if set&fuzzValue != 0 {
		e.Value = shop.Cents(cents)
	}
	return e
}

// BenchmarkEventEncode compares json.Marshal, the JSON v2 marshaler
// with v1 options (byte-identical on this event, checked here) and
// AppendJSON on the proxy's typical event.
//
//	go test ./klaviyo -run '^$' -bench EventEncode -benchmem
func BenchmarkEventEncode(b *testing.B) {
	e := viewedProduct()
	want, _ := json.Marshal(e)
	b.Logf("%d bytes: %s", len(want), want)
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsonv2-v1options", func(b *testing.B) {
		if got, err := jsonv2.Marshal(&e, jsonv1.DefaultOptionsV1()); err != nil || string(got) != string(want) {
			b.Fatalf("JSON v2 with v1 options gives %s (%v), want %s", got, err, want)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jsonv2.Marshal(&e, jsonv1.DefaultOptionsV1()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.AppendJSON(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
