package app

import (
	"encoding/json"
	"strings"
	"testing"

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
