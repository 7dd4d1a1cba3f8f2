package snippets

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/shop"
)

// TestEventIsItsPush holds each builder's Event to the track push the page
// gets: the metric, $event_id and $value as the push's, every other member
// in Properties, and nothing else.
func TestEventIsItsPush(t *testing.T) {
	cart, added := seedCart(t)
	product := cart.Items[0].Product
	build := map[string]func() (Event, []Push, error){
		"viewed product": func() (Event, []Push, error) {
			e, err := ViewedProductEvent(product)
			ps, _ := ViewedProductPushes(product)
			return e, ps, err
		},
		"added to cart": func() (Event, []Push, error) {
			e, err := AddedToCartEvent(cart, added)
			ps, _ := AddedToCartPushes(cart, added)
			return e, ps, err
		},
		"started checkout": func() (Event, []Push, error) {
			e, err := StartedCheckoutEvent(cart, checkoutTime)
			ps, _ := StartedCheckoutPushes(cart, checkoutTime)
			return e, ps, err
		},
	}
	for name, b := range build {
		t.Run(name, func(t *testing.T) {
			e, pushes, err := b()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(e.Push()); got != string(pushes[0]) {
				t.Errorf("Push %s, the builder's push %s", got, pushes[0])
			}
			var track []json.RawMessage
			if err := json.Unmarshal(pushes[0], &track); err != nil || len(track) != 3 {
				t.Fatalf("push %s: %v", pushes[0], err)
			}
			var metric string
			json.Unmarshal(track[1], &metric)
			var props map[string]any
			if err := json.Unmarshal(track[2], &props); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"metric": metric, "properties": props}
			if id, ok := props["$event_id"]; ok {
				want["event_id"] = id
				delete(props, "$event_id")
			}
			if v, ok := props["$value"]; ok {
				want["value"] = v
				delete(props, "$value")
			}
			got := map[string]any{"metric": e.Metric}
			if e.EventID != "" {
				got["event_id"] = e.EventID
			}
			if e.Value.IsSet() {
				var v any
				json.Unmarshal([]byte(e.Value.String()), &v)
				got["value"] = v
			}
			var gotProps map[string]any
			if err := json.Unmarshal(e.Properties, &gotProps); err != nil {
				t.Fatalf("properties %s: %v", e.Properties, err)
			}
			got["properties"] = gotProps
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("event (-push +Event):\n%s", d)
			}
		})
	}
}

// TestEventPushMembers covers the joins Push makes: no special members,
// only one of them, and empty properties.
func TestEventPushMembers(t *testing.T) {
	for _, tt := range []struct {
		e    Event
		want string
	}{
		{Event{Metric: "M"}, `["track","M",{}]`},
		{Event{Metric: "M", Properties: json.RawMessage(`{}`)}, `["track","M",{}]`},
		{Event{Metric: "M", Value: shop.Cents(250)}, `["track","M",{"$value":2.5}]`},
		{Event{Metric: "M", EventID: "e</script>", Properties: json.RawMessage(`{"a":1}`)}, `["track","M",{"$event_id":"e\u003c/script\u003e","a":1}]`},
		{Event{Metric: "M", EventID: "e", Value: shop.Cents(0), Properties: json.RawMessage(`{"a":1,"b":[2]}`)}, `["track","M",{"$event_id":"e","$value":0,"a":1,"b":[2]}]`},
	} {
		if got := string(tt.e.Push()); got != tt.want {
			t.Errorf("%+v: got %s, want %s", tt.e, got, tt.want)
		}
	}
}
