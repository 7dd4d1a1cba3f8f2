package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/shop"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sampleOrder is the seed guide's example order in snippetd's shape.
func sampleOrder(t testing.TB) shop.Order {
	t.Helper()
	var o shop.Order
	err := strictjson.Decode([]byte(`{
		"id": "1234567890",
		"placed_at": "2026-02-05T15:00:00Z",
		"currency": "USD",
		"customer": {"email": "john.smith@example.com", "first_name": "John", "last_name": "Smith", "phone_number": "+15551234567",
			"address": {"address1": "123 Abc St", "address2": "Suite 1", "city": "Boston", "region": "Massachusetts", "region_code": "MA", "country": "United States", "country_code": "US", "zip": "02110"}},
		"items": [
			{"product": {"id": "1111", "sku": "WINNIEPOOH", "name": "Winnie the Pooh", "url": "http://www.example.com/path/to/product", "image_url": "http://www.example.com/path/to/product/image.png", "categories": ["Fiction", "Children"], "brand": "Kids Books", "price": 9.99}, "quantity": 1},
			{"product": {"id": "1112", "sku": "TALEOFTWO", "name": "A Tale of Two Cities", "url": "http://www.example.com/path/to/product2", "image_url": "http://www.example.com/path/to/product/image2.png", "categories": ["Fiction", "Classics"], "brand": "Harcourt Classics", "price": 19.99}, "quantity": 2}
		],
		"discount_code": "Free Shipping",
		"discount_value": 5,
		"total": 44.97,
		"billing_address": {"first_name": "John", "last_name": "Smith", "address1": "123 abc street", "address2": "apt 1", "city": "Boston", "region": "Massachusetts", "region_code": "MA", "country": "United States", "country_code": "US", "zip": "02110", "phone": "5551234567"},
		"shipping_address": {"first_name": "John", "last_name": "Smith", "address1": "123 abc street", "address2": "apt 1", "city": "Boston", "region": "Massachusetts", "region_code": "MA", "country": "United States", "country_code": "US", "zip": "02110", "phone": "5551234567"}
	}`), &o)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		os.WriteFile(path, buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func client(t *testing.T, fake *klaviyotest.Server) *klaviyo.Client {
	t.Helper()
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL, Now: func() time.Time { return now },
		EventBuckets: klaviyo.Unlimited, BulkBuckets: klaviyo.Unlimited})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoldenEventsAsSent sends every metric through the real client to the
// strict fake and compares the JSON:API bodies it received with golden
// files; each is also validated against the matching OpenAPI slice.
func TestGoldenEventsAsSent(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	sch, err := klaviyotest.LoadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	pub := syncPublisher{Sender: client(t, fake)}
	o := sampleOrder(t)
	evs := orders.PlacedEvents(o, false)
	at := time.Date(2026, 2, 7, 9, 30, 0, 0, time.UTC)
	ful, err := orders.ActionEvent(orders.Fulfilled, orders.Action{Time: at, Tracking: &orders.Tracking{Number: "1Z999", URL: "https://track.example/1Z999", Carrier: "UPS"}}, o, now)
	if err != nil {
		t.Fatal(err)
	}
	can, err := orders.ActionEvent(orders.Cancelled, orders.Action{Time: at, Reason: "No longer needed", Items: []orders.ActionItem{{ProductID: "1112", Quantity: 1}}}, o, now)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := orders.ActionEvent(orders.Refunded, orders.Action{Time: at.Add(time.Hour), Reason: "Damaged"}, o, now)
	if err != nil {
		t.Fatal(err)
	}
	evs = append(evs, ful, can, ref)
	if err := pub.Publish(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	got := fake.Events()
	names := []string{"placed_order.json", "ordered_product_0.json", "ordered_product_1.json", "fulfilled_order.json", "cancelled_order_partial.json", "refunded_order.json"}
	if len(got) != len(names) {
		t.Fatalf("fake kept %d events, want %d", len(got), len(names))
	}
	for i, e := range got {
		golden(t, names[i], e.Raw)
		if err := sch.ValidateJSON(klaviyotest.SliceEvent, e.Raw); err != nil {
			t.Error(err)
		}
	}
	// The facts the golden files encode, checked on their own so that a
	// regenerated golden file cannot silently change them.
	type fact struct{ Metric, UniqueID, Value, Time string }
	var facts []fact
	for _, e := range got {
		facts = append(facts, fact{e.Metric, e.UniqueID, e.Value.String(), e.Time})
	}
	rowTotal := func(i int) string { return o.Items[i].RowTotal().String() }
	want := []fact{
		{"Placed Order", "1234567890", o.OrderTotal().String(), "2026-02-05T15:00:00Z"},
		{"Ordered Product", "1234567890:0", rowTotal(0), "2026-02-05T15:00:00Z"},
		{"Ordered Product", "1234567890:1", rowTotal(1), "2026-02-05T15:00:00Z"},
		{"Fulfilled Order", "1234567890", o.OrderTotal().String(), "2026-02-07T09:30:00Z"},
		{"Cancelled Order", "1234567890", o.Items[1].Product.Price.String(), "2026-02-07T09:30:00Z"},
		{"Refunded Order", "1234567890", o.OrderTotal().String(), "2026-02-07T10:30:00Z"},
	}
	if diff := cmp.Diff(want, facts); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if p := got[0].Profile; p["email"] != "john.smith@example.com" || p["phone_number"] != "+15551234567" || p["location"].(map[string]any)["city"] != "Boston" {
		t.Errorf("profile %v", p)
	}
	if items := got[4].Properties["Items"].([]any); len(items) != 1 || got[4].Properties["Reason"] != "No longer needed" {
		t.Errorf("partial cancel properties %v", got[4].Properties)
	}
}

func TestAffectedItems(t *testing.T) {
	o := sampleOrder(t)
	o.Items = append(o.Items, o.Items[1]) // the same product on a second line
	tests := []struct {
		name      string
		items     []orders.ActionItem
		wantField string
		wantValue shop.Money
	}{
		{"whole order", nil, "", o.OrderTotal()},
		{"one unit", []orders.ActionItem{{ProductID: "1112", Quantity: 1}}, "", o.Items[1].Product.Price},
		{"whole line by product", []orders.ActionItem{{ProductID: "1111"}}, "", o.Items[0].RowTotal()},
		{"spans two lines", []orders.ActionItem{{ProductID: "1112", Quantity: 3}}, "", o.Items[1].Product.Price.Mul(3)},
		{"too many", []orders.ActionItem{{ProductID: "1112", Quantity: 5}}, "items[0].quantity", shop.Money{}},
		{"unknown product", []orders.ActionItem{{ProductID: "nope"}}, "items[0].product_id", shop.Money{}},
		{"no product id", []orders.ActionItem{{Quantity: 1}}, "items[0].product_id", shop.Money{}},
		{"used up", []orders.ActionItem{{ProductID: "1111"}, {ProductID: "1111"}}, "items[1].product_id", shop.Money{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := orders.Action{Items: tt.items, Time: now}
			err := orders.ValidateAction(orders.Refunded, a, o)
			if got := apperr.ErrorField(err); got != tt.wantField {
				t.Fatalf("field %q (%v), want %q", got, err, tt.wantField)
			}
			if err != nil {
				return
			}
			ev, err := orders.ActionEvent(orders.Refunded, a, o, now)
			if err != nil || ev.Value != tt.wantValue {
				t.Errorf("value %v (%v), want %v", ev.Value, err, tt.wantValue)
			}
		})
	}
	for _, tt := range []struct {
		name  string
		a     orders.Action
		field string
	}{
		{"time before placed", orders.Action{Time: o.PlacedAt.Add(-time.Hour)}, "time"},
		{"tracking on refund", orders.Action{Tracking: &orders.Tracking{Number: "1"}}, "tracking"},
		{"negative amount", orders.Action{Amount: shop.Cents(-1)}, "amount"},
	} {
		if got := apperr.ErrorField(orders.ValidateAction(orders.Refunded, tt.a, o)); got != tt.field {
			t.Errorf("%s: field %q, want %q", tt.name, got, tt.field)
		}
	}
}

func TestBackfillFlagAndLineIDs(t *testing.T) {
	o := sampleOrder(t)
	o.Items = append(o.Items, o.Items[0])
	evs := orders.PlacedEvents(o, true)
	seen := map[string]bool{}
	for _, e := range evs {
		if !e.Backfill {
			t.Errorf("%s without backfill", e.Metric)
		}
		// Klaviyo keeps one event per profile, metric and unique_id.
		key := e.Profile.Key() + "\x00" + e.Metric + "\x00" + e.UniqueID
		if seen[key] {
			t.Errorf("two events share %q: Klaviyo would drop one", key)
		}
		seen[key] = true
		if err := e.ValidateAt(now); err != nil {
			t.Errorf("%s: %v", e.Metric, err)
		}
	}
}

// recorder is a Publisher that keeps what it was given.
type recorder struct {
	got [][]klaviyo.Event
	err error
}

func (r *recorder) Publish(_ context.Context, evs []klaviyo.Event) error {
	r.got = append(r.got, evs)
	return r.err
}

func TestService(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := orders.OpenStore(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := orders.OpenStore(ctx, d); err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			rec := &recorder{}
			svc := &orders.Service{Store: st, Publisher: rec, Now: func() time.Time { return now }}
			o := sampleOrder(t)

			ids, err := svc.Place(ctx, o)
			if diff := cmp.Diff([]string{"1234567890", "1234567890:0", "1234567890:1"}, ids); err != nil || diff != "" {
				t.Fatalf("place: %v (-want +got):\n%s", err, diff)
			}
			if _, err := svc.Place(ctx, o); err != nil {
				t.Errorf("replay: %v", err)
			}
			changed := o
			changed.DiscountCode = "OTHER"
			if _, err := svc.Place(ctx, changed); apperr.ErrorCode(err) != apperr.ECONFLICT {
				t.Errorf("changed order: %v, want conflict", err)
			}

			// Action on the stored order.
			ids, err = svc.Act(ctx, o.ID, orders.Fulfilled, orders.Action{Tracking: &orders.Tracking{Number: "1Z"}})
			if err != nil || len(ids) != 1 || ids[0] != o.ID {
				t.Fatalf("fulfil: %v %v", ids, err)
			}
			last := rec.got[len(rec.got)-1][0]
			if last.Metric != orders.MetricFulfilledOrder || !last.Time.Equal(now) {
				t.Errorf("fulfilled event %s at %v", last.Metric, last.Time)
			}
			if _, err := svc.Act(ctx, o.ID, orders.Fulfilled, orders.Action{Tracking: &orders.Tracking{Number: "1Z"}}); err != nil {
				t.Errorf("replayed action: %v", err)
			}
			if _, err := svc.Act(ctx, o.ID, orders.Fulfilled, orders.Action{Tracking: &orders.Tracking{Number: "2Z"}}); apperr.ErrorCode(err) != apperr.ECONFLICT {
				t.Errorf("second different fulfilment: %v, want conflict", err)
			}
			// Unknown order, then the same with the order included.
			if _, err := svc.Act(ctx, "999", orders.Cancelled, orders.Action{Reason: "x"}); apperr.ErrorCode(err) != apperr.ENOTFOUND {
				t.Errorf("unknown order: %v", err)
			}
			o2 := sampleOrder(t)
			o2.ID = "999"
			if _, err := svc.Act(ctx, "999", orders.Cancelled, orders.Action{Reason: "x", Order: &o2}); err != nil {
				t.Errorf("order included: %v", err)
			}
			if _, ok, _ := st.Order(ctx, "999"); !ok {
				t.Errorf("included order was not stored")
			}
			if _, err := svc.Act(ctx, "998", orders.Cancelled, orders.Action{Order: &o2}); apperr.ErrorField(err) != "order.id" {
				t.Errorf("mismatched id: %v", err)
			}

			// A failed publish forgets the action so a corrected one can go.
			rec.err = &apperr.Error{Code: apperr.EUNAVAILABLE, Message: "down"}
			if _, err := svc.Act(ctx, o.ID, orders.Refunded, orders.Action{Reason: "a"}); apperr.ErrorCode(err) != apperr.EUNAVAILABLE {
				t.Errorf("publish failure: %v", err)
			}
			rec.err = nil
			if _, err := svc.Act(ctx, o.ID, orders.Refunded, orders.Action{Reason: "b"}); err != nil {
				t.Errorf("after failed publish: %v", err)
			}

			// Invalid input and no publisher.
			bad := o
			bad.Items = nil
			if _, err := svc.Place(ctx, bad); apperr.ErrorField(err) != "items" {
				t.Errorf("no items: %v", err)
			}
			long := sampleOrder(t)
			long.ID = "long"
			long.Items[0].Product.Name = strings.Repeat("x", klaviyo.MaxStringBytes+1)
			if _, err := svc.Place(ctx, long); apperr.ErrorCode(err) != apperr.EINVALID || !strings.HasPrefix(apperr.ErrorField(err), "(Placed Order event).properties.") {
				t.Errorf("over Klaviyo's limit: %v", err)
			}
			svc.Publisher = nil
			o3 := sampleOrder(t)
			o3.ID = "new"
			if _, err := svc.Place(ctx, o3); apperr.ErrorCode(err) != apperr.EUNAVAILABLE || !strings.Contains(apperr.ErrorMessage(err), "SNIPPETD_PRIVATE_KEY") {
				t.Errorf("no publisher: %v", err)
			}
			if _, err := svc.Place(ctx, bad); apperr.ErrorCode(err) != apperr.EINVALID {
				t.Errorf("no publisher must still validate first: %v", err)
			}
		})
	}
}
