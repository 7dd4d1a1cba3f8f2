package klaviyo

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// referenceValidateAt is ValidateAt as it was before the one-pass scanner
// and the size bound (token walker on every event, encoding on every
// event), kept verbatim as the oracle the fast version must agree with.
func referenceValidateAt(e Event, now time.Time) error {
	switch {
	case !e.Profile.HasIdentifier():
		return apperr.FieldErrorf("profile", "needs at least one of email, phone_number, external_id, _kx, anonymous_id")
	case e.Metric == "":
		return apperr.FieldErrorf("metric", "is required")
	case len([]rune(e.Metric)) >= MaxMetricName:
		return apperr.FieldErrorf("metric", "must be shorter than %d characters", MaxMetricName)
	case !e.Time.IsZero() && e.Time.Before(minTime):
		return apperr.FieldErrorf("time", "must not be before 1990")
	case !e.Time.IsZero() && e.Time.After(now.AddDate(1, 0, 0)):
		return apperr.FieldErrorf("time", "must be at most one year in the future")
	case e.ValueCurrency != "" && !isCurrency(e.ValueCurrency):
		return apperr.FieldErrorf("value_currency", "must be an ISO 4217 code such as USD")
	}
	if err := checkProperties(e.Properties); err != nil {
		return err
	}
	for _, s := range []struct{ field, v string }{
		{"unique_id", e.UniqueID},
		{"profile.email", e.Profile.Email},
		{"profile.first_name", e.Profile.FirstName},
		{"profile.last_name", e.Profile.LastName},
	} {
		if len(s.v) > MaxStringBytes {
			return apperr.FieldErrorf(s.field, "must be at most %d bytes", MaxStringBytes)
		}
	}
	b, err := EncodeEvent(e)
	if err != nil {
		return apperr.FieldErrorf("properties", "cannot be encoded")
	}
	if len(b) > MaxPayloadBytes {
		return apperr.FieldErrorf("properties", "make the event %d bytes, more than Klaviyo's %d", len(b), MaxPayloadBytes)
	}
	return nil
}

var scanNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	if fe, ok := err.(*apperr.Error); ok {
		return fmt.Sprintf("%s %s: %s", fe.Code, fe.Field, fe.Message)
	}
	return err.Error()
}

func scanEvent(props string) Event {
	return Event{Metric: "Placed Order", Profile: Profile{Email: "a@example.com"},
		Properties: json.RawMessage(props), Time: scanNow.Add(-time.Hour), Value: shop.Cents(1999), ValueCurrency: "USD", UniqueID: "u1"}
}

// propertyCases are properties that each sit on one side of a rule the
// scanner must follow exactly as encoding/json's token decoder does.
func propertyCases() []string {
	nest := func(n int, inner string) string { // n objects around inner
		return strings.Repeat(`{"a":`, n) + inner + strings.Repeat(`}`, n)
	}
	arrNest := func(n int) string { return `{"a":` + strings.Repeat(`[`, n) + `1` + strings.Repeat(`]`, n) + `}` }
	props := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"p%d":%d`, i, i)
		}
		return b.String() + "}"
	}
	items := func(n int) string { return `{"I":[` + strings.TrimSuffix(strings.Repeat(`1,`, n), ",") + `]}` }
	str := func(s string) string { return `{"s":"` + s + `"}` }
	big := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"p%d":"%s"`, i, strings.Repeat("<", 30*1024))
		}
		return b.String() + "}"
	}
	return []string{
		``, ` `, "\t\r\n", `null`, ` null `, "\u00a0", "\u00a0{}", "{}\u00a0", `{}`, ` {} `, `{} {}`, `{}x`, `[]`, `[1]`, `"x"`, `1`, `true`,
		`{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`, `{a:1}`, `{1:2}`, `{"a":1}`, `{"a":-0.5e+10}`,
		`{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1E-2}`, `{"a":+1}`, `{"a":-0}`, `{"a":NaN}`,
		`{"a":tru}`, `{"a":true}`, `{"a":false}`, `{"a":null}`, `{"a":nul}`, `{"a":[1,2,]}`, `{"a":[,]}`, `{"a":[]}`, `{"a":[ ]}`,
		`{"a":{}}`, `{"a":"\u00e9\n\"\\\/\b\f\r\t"}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\xfe\"}",
		`{"a":"\ud800"}`, `{"\u0000":"\ud800\udc00"}`, `{"a":"unterminated}`, `{"a":1}}`, `{"a":[1]]}`,
		nest(9, `1`), nest(10, `1`), nest(11, `1`), `{"x":` + nest(9, `{}`) + `}`, `{"x":` + nest(8, `[]`) + `}`, `{"x":` + nest(9, `[]`) + `}`,
		arrNest(8), arrNest(9), arrNest(10), `{"a":[[[[[[[[{}]]]]]]]]}`, `{"a":[[[[[[[[{"b":1}]]]]]]]]}`,
		props(400), props(401), items(4000), items(4001),
		str(strings.Repeat("x", MaxStringBytes/3)), str(strings.Repeat("x", MaxStringBytes/3+1)),
		str(strings.Repeat("x", MaxStringBytes)), str(strings.Repeat("x", MaxStringBytes+1)),
		str(strings.Repeat(`\n`, MaxStringBytes/2+1)), str(strings.Repeat("\xff", MaxStringBytes/3+1)),
		str(strings.Repeat(`\u00e9`, MaxStringBytes/2)), str(strings.Repeat(`\u00e9`, MaxStringBytes/2+1)),
		`{"` + strings.Repeat("k", MaxStringBytes+1) + `":1}`,
		big(20), big(28), big(29), big(170), big(171),
	}
}

// TestValidateAgreesWithReference: on every case (properties and the other
// fields), the fast ValidateAt gives exactly the reference's answer,
// message and field included.
func TestValidateAgreesWithReference(t *testing.T) {
	var events []Event
	for _, p := range propertyCases() {
		events = append(events, scanEvent(p))
	}
	long := strings.Repeat("é", 64) // 64 runes, 128 bytes
	for _, mod := range []func(*Event){
		func(e *Event) { e.Metric = "" },
		func(e *Event) { e.Metric = strings.Repeat("m", 127) },
		func(e *Event) { e.Metric = strings.Repeat("m", 128) },
		func(e *Event) { e.Metric = long },
		func(e *Event) { e.Metric = strings.Repeat("\xff", 127) },
		func(e *Event) { e.Profile = Profile{FirstName: "A"} },
		func(e *Event) { e.Profile = Profile{AnonymousID: "x"} },
		func(e *Event) { e.Time = time.Time{} },
		func(e *Event) { e.Time = time.Date(1989, 12, 31, 23, 59, 59, 0, time.UTC) },
		func(e *Event) { e.Time = scanNow.AddDate(1, 0, 0) },
		func(e *Event) { e.Time = scanNow.AddDate(1, 0, 0).Add(time.Nanosecond) },
		func(e *Event) { e.ValueCurrency = "usd" },
		func(e *Event) { e.ValueCurrency = "" },
		func(e *Event) { e.UniqueID = strings.Repeat("u", MaxStringBytes+1) },
		func(e *Event) { e.Profile.Email = strings.Repeat("e", MaxStringBytes+1) },
		func(e *Event) { e.Profile.FirstName = strings.Repeat("f", MaxStringBytes) },
		func(e *Event) { e.Profile.LastName = strings.Repeat("l", MaxStringBytes+1) },
		// Long strings outside properties push the size over 5 MB only
		// when escaped: the bound must fall back to encoding, not guess.
		func(e *Event) {
			e.Profile.PhoneNumber = strings.Repeat("<", 900*1024)
			e.Properties = json.RawMessage(`{"a":"` + strings.Repeat("x", 30*1024) + `"}`)
		},
		func(e *Event) {
			e.Profile.Location = &Location{Address1: strings.Repeat("<", 900*1024), City: strings.Repeat("&", 900*1024)}
		},
	} {
		e := scanEvent(`{"a":1}`)
		mod(&e)
		events = append(events, e)
	}
	for i, e := range events {
		want, got := errString(referenceValidateAt(e, scanNow)), errString(e.ValidateAt(scanNow))
		if diff := cmp.Diff(want, got); diff != "" {
			p := string(e.Properties)
			if len(p) > 80 {
				p = p[:80] + "…"
			}
			t.Errorf("case %d (properties %q): ValidateAt differs from the reference (-want +got):\n%s", i, p, diff)
		}
	}
}

// FuzzValidateAgrees: for any properties, metric and identifiers, the fast
// ValidateAt and the reference give the same error (or none).
// go test -run '^$' -fuzz FuzzValidateAgrees -fuzztime 2m ./klaviyo/
func FuzzValidateAgrees(f *testing.F) {
	for _, p := range propertyCases() {
		if len(p) < 4096 {
			f.Add(p, "Placed Order", "a@example.com", "")
		}
	}
	f.Add(`{"a":[{"b":"\u00e9"}]}`, strings.Repeat("é", 130), "", "anon")
	f.Fuzz(func(t *testing.T, props, metric, email, anon string) {
		e := Event{Metric: metric, Profile: Profile{Email: email, AnonymousID: anon}, Properties: json.RawMessage(props), Time: scanNow}
		want, got := errString(referenceValidateAt(e, scanNow)), errString(e.ValidateAt(scanNow))
		if want != got {
			t.Fatalf("properties %q: reference %s, fast %s", props, want, got)
		}
	})
}

// BenchmarkValidate compares ValidateAt with the reference on a typical
// Placed Order event (the outbox benchmarks' shape).
func BenchmarkValidate(b *testing.B) {
	e := scanEvent(`{"OrderId":"1001","Categories":["Mugs","Kitchen"],"ItemNames":["Mug","Plate"],"Brands":["Acme"],"DiscountCode":"","DiscountValue":0,` +
		`"Items":[{"ProductID":"p1","SKU":"MUG-1","ProductName":"Mug","Quantity":2,"ItemPrice":14.99,"RowTotal":29.98,"ProductURL":"https://shop.example/p/mug","ImageURL":"https://shop.example/i/mug.jpg","Categories":["Mugs"]},` +
		`{"ProductID":"p2","SKU":"PL-1","ProductName":"Plate","Quantity":1,"ItemPrice":9.5,"RowTotal":9.5,"ProductURL":"https://shop.example/p/plate","ImageURL":"https://shop.example/i/plate.jpg","Categories":["Kitchen"]}],` +
		`"BillingAddress":{"City":"Boston","Region":"MA","Country":"US"}}`)
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := referenceValidateAt(e, scanNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := e.ValidateAt(scanNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeEvent(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
