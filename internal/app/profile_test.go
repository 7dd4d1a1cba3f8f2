package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// An order's customer location and custom properties reach the strict
// fake Klaviyo as profile attributes.location and attributes.properties,
// on every event of the order; bad ones are 422 naming the field.
func TestOrderCustomerLocationAndProperties(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	m := openMain(t, map[string]string{"SNIPPETD_API_TOKEN": "tok-123", "SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey, "SNIPPETD_KLAVIYO_URL": fake.URL})
	customer := `"customer":{"email":"ann@example.com","first_name":"Ann","location":{"city":"Porto","country":"Portugal","zip":"4000-001"},"properties":{"loyalty_tier":"gold","points":1250,"vip":true}}`
	order := strings.Replace(orderJSON, `"customer":{"email":"ann@example.com","first_name":"Ann"}`, customer, 1)
	for _, tc := range []struct {
		name, from, to, field string
	}{
		{"nested property", `"vip":true`, `"vip":{"a":1}`, "customer.properties.vip"},
		{"special property", `"vip":true`, `"$email":"x@y.co"`, "customer.properties.$email"},
		{"location control", `"city":"Porto"`, `"city":"Por\u0007to"`, "customer.location.city"},
	} {
		st, body := call(t, m, "/v1/orders", "tok-123", "application/json", strings.Replace(order, tc.from, tc.to, 1))
		if st != 422 || !strings.Contains(body, `"field":"`+tc.field+`"`) || !strings.Contains(body, `"code":"invalid"`) {
			t.Errorf("%s: %d %s", tc.name, st, body)
		}
	}
	if st, body := call(t, m, "/v1/orders", "tok-123", "application/json", order); st != 202 {
		t.Fatalf("order: %d %s", st, body)
	}
	drain(t, m)
	evs := fake.Events()
	if len(evs) != 3 {
		t.Fatalf("fake received %d events, want 3", len(evs))
	}
	for _, e := range evs {
		loc, _ := json.Marshal(e.Profile["location"])
		props, _ := json.Marshal(e.Profile["properties"])
		if d := cmp.Diff(`{"city":"Porto","country":"Portugal","zip":"4000-001"}`, string(loc)); d != "" {
			t.Errorf("%s location (-want +got):\n%s", e.Metric, d)
		}
		if d := cmp.Diff(`{"loyalty_tier":"gold","points":1250,"vip":true}`, string(props)); d != "" {
			t.Errorf("%s properties (-want +got):\n%s", e.Metric, d)
		}
	}
}

// The proxy's identify passes a browser's location and custom properties
// through on the one-identifier profile (the client profile shape); bad
// ones are 422 naming the field.
func TestProxyIdentifyLocationAndProperties(t *testing.T) {
	m, fake := startProxyMain(t)
	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", m.Server.URL()+"/s/i", strings.NewReader(body))
		req.Header.Set("Origin", "https://shop.example")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct{ name, body, field string }{
		{"nested property", `{"email":"ann@example.com","properties":{"a":[1]}}`, "properties.a"},
		{"special property", `{"profile":{"email":"ann@example.com","properties":{"$phone_number":"+15005550006"}}}`, "profile.properties.$phone_number"},
		{"long zip", `{"profile":{"email":"ann@example.com","location":{"zip":"` + strings.Repeat("9", 256) + `"}}}`, "profile.location.zip"},
		{"both forms", `{"location":{"city":"Porto"},"profile":{"email":"ann@example.com"}}`, "profile"},
	} {
		if st, body := post(tc.body); st != 422 || !strings.Contains(body, `"field":"`+tc.field+`"`) {
			t.Errorf("%s: %d %s", tc.name, st, body)
		}
	}
	if st, body := post(`{"profile":{"email":"ann@example.com","location":{"city":"Porto","country":"Portugal"},"properties":{"newsletter_topic":"tea","visits":3}}}`); st != 202 {
		t.Fatalf("identify: %d %s", st, body)
	}
	for deadline := time.Now().Add(20 * time.Second); len(fake.Events()) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the fake received nothing")
		}
	}
	p := fake.Events()[0].Profile
	loc, _ := p["location"].(map[string]any)
	props, _ := json.Marshal(p["properties"])
	if p["email"] != "ann@example.com" || loc["city"] != "Porto" || loc["country"] != "Portugal" || loc["ip"] == nil || string(props) != `{"newsletter_topic":"tea","visits":3}` {
		t.Errorf("profile = %v", p)
	}
	for _, k := range []string{"phone_number", "external_id", "_kx"} {
		if p[k] != nil {
			t.Errorf("the browser's identify attached %s: %v", k, p)
		}
	}
}
