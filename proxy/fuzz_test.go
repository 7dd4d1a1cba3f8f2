package proxy

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
)

// FuzzDecodeBatch feeds arbitrary bodies to the ingest decoder and
// validator. It must never panic, and every event it accepts must pass
// Klaviyo's own validation (klaviyo.Event.ValidateAt) once a profile is
// attached, be an allowed metric, and carry a JSON-object properties.
// Seeds: testdata/fuzz/FuzzDecodeBatch. Run:
//
//	go test ./proxy -run '^$' -fuzz FuzzDecodeBatch -fuzztime 3m
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"events":[{"metric":"Viewed Product","properties":{"ProductName":"Mug","Price":12.5},"time":"2026-11-27T11:59:30Z","unique_id":"vp-1"}]}`))
	f.Add([]byte(`{"events":[{"metric":"Added to Cart","value":25.5,"time":1796212740000}],"profile":{"email":"a@b.co"},"kx":"k.ABC123","consent":true}`))
	f.Add([]byte(`{"events":[{"metric":"Placed Order","value":1,"backfill":true,"value_currency":"USD"}]}`))
	// The input form: the server builds the properties.
	f.Add([]byte(`{"events":[{"metric":"Viewed Product","product":{"id":"p1","name":"Mug","categories":["Kitchen"],"price":12.5,"compare_at_price":15},"time":1796212740000,"unique_id":"vp-2"}]}`))
	f.Add([]byte(`{"events":[{"metric":"Added to Cart","cart":{"id":"c1","checkout_url":"https://s.example/co","items":[{"product":{"id":"p1","sku":"M","name":"Mug","price":12.5},"quantity":2}]},"added":{"product":{"id":"p1","sku":"M","name":"Mug","price":12.5},"quantity":1}}],"profile":{"email":"a@b.co"}}`))
	f.Add([]byte(`{"events":[{"metric":"Started Checkout","cart":{"id":"gid://c/1","items":[{"product":{"id":"p1","name":"Mug","price":1.005},"quantity":3}]},"time":"2026-11-27T11:59:30Z"},{"metric":"Started Checkout","cart":{"id":"c2","items":[{"product":{"id":"p","name":"n","price":0},"quantity":1}]},"properties":{}}]}`))
	v := NewValidator([]string{"Viewed Collection"}, EventLimits{})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := v.DecodeBatch(body, now)
		if err != nil {
			return
		}
		if len(b.Events) == 0 || len(b.Events) > defaultLimits.MaxEvents {
			t.Fatalf("accepted %d events", len(b.Events))
		}
		profiles := []klaviyo.Profile{{Kx: "k.ABC123"}, claimProfile(b.Profile)}
		for i, e := range b.Events {
			if !v.allowed[e.Metric] || isServerMetric(e.Metric) {
				t.Fatalf("events[%d]: metric %q accepted", i, e.Metric)
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(e.Properties, &obj); err != nil {
				t.Fatalf("events[%d]: properties %q are not an object: %v", i, e.Properties, err)
			}
			if e.Value.IsSet() && e.Value.Cents() < 0 {
				t.Fatalf("events[%d]: negative value accepted", i)
			}
			for _, p := range profiles {
				if !p.HasIdentifier() {
					continue
				}
				ke := e
				ke.Profile = p
				if err := ke.ValidateAt(now); err != nil {
					t.Fatalf("events[%d] accepted by the proxy but invalid for Klaviyo: %v\nbody: %s", i, err, body)
				}
			}
		}
		if _, err := v.DecodeIdentify(body); err == nil {
			// A batch body has "events", which identify does not know.
			t.Fatalf("identify accepted a batch body")
		}
	})
}

// FuzzDecodeIdentify checks identify bodies and __kla_id cookie values
// never panic and that accepted identifies always carry an identifier.
func FuzzDecodeIdentify(f *testing.F) {
	f.Add([]byte(`{"email":"a@b.co","first_name":"A","kx":"k.ABC123","consent":true}`), "eyIkZXhjaGFuZ2VfaWQiOiJrLkFCQzEyMyJ9")
	f.Add([]byte(`{"phone_number":"+15005550006"}`), "%7B%7D")
	v := NewValidator(nil, EventLimits{})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, cookie string) {
		kx, email := parseKlaID(cookie)
		if kx != "" {
			if _, err := validateKx(kx, ""); err != nil {
				t.Fatalf("cookie kx %q invalid", kx)
			}
		}
		id, err := v.DecodeIdentify(body)
		if err != nil {
			return
		}
		if !id.HasIdentifier() {
			t.Fatal("identify without identifier accepted")
		}
		p, _, err := Resolve(Signals{CookieKx: kx, CookieEm: email, Claim: id.Claim, LandingKx: id.Kx})
		if err != nil {
			t.Fatal(err)
		}
		if p.Kx != "" && (p.Email != "" || p.PhoneNumber != "" || p.ExternalID != "") {
			t.Fatalf("profile pairs _kx with a claimed identifier: %+v", p)
		}
		ke := klaviyo.Event{Metric: IdentifyMetric, Profile: p, Properties: json.RawMessage(`{}`), Time: now}
		if err := ke.ValidateAt(now); err != nil {
			t.Fatalf("identify event invalid for Klaviyo: %v", err)
		}
	})
}
