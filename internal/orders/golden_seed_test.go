package orders_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/shop"
)

// seedOrder is the seed guide's Placed Order example as a shop sends it:
// a time without a zone (the guide's historical-data form) and national
// phone numbers, which Klaviyo refuses unless normalised.
const seedOrder = `{
	"id": "1234567890",
	"placed_at": "2022-12-05T15:00:00",
	"currency": "USD",
	"customer": {"email": "john.smith@example.com", "first_name": "John", "last_name": "Smith", "phone_number": "5551234567"},
	"items": [
		{"product": {"id": "1111", "sku": "WINNIEPOOH", "name": "Winnie the Pooh", "url": "http://www.example.com/path/to/product", "image_url": "http://www.example.com/path/to/product/image.png", "categories": ["Fiction", "Children"], "brand": "Kids Books", "price": 9.99}, "quantity": 1},
		{"product": {"id": "1112", "sku": "TALEOFTWO", "name": "A Tale of Two Cities", "url": "http://www.example.com/path/to/product2", "image_url": "http://www.example.com/path/to/product/image2.png", "categories": ["Fiction", "Classics"], "brand": "Harcourt Classics", "price": 19.99}, "quantity": 1}
	],
	"discount_code": "Free Shipping",
	"discount_value": 5,
	"billing_address": {"first_name": "John", "last_name": "Smith", "address1": "123 abc street", "address2": "apt 1", "city": "Boston", "region": "Massachusetts", "region_code": "MA", "country": "United States", "country_code": "US", "zip": "02110", "phone": "5551234567"},
	"shipping_address": {"first_name": "John", "last_name": "Smith", "address1": "123 abc street", "address2": "apt 1", "city": "Boston", "region": "Massachusetts", "region_code": "MA", "country": "United States", "country_code": "US", "zip": "02110", "phone": "5551234567"}
}`

const jpyOrder = `{"id": "JP-1", "placed_at": "2026-02-01", "currency": "JPY",
	"customer": {"email": "hanako@example.com", "phone_number": "090-1234-5678", "address": {"country_code": "JP", "city": "Tokyo"}},
	"items": [{"product": {"id": "tea", "name": "Sencha", "price": 1500}, "quantity": 2}, {"product": {"id": "cup", "name": "Yunomi", "price": 980}, "quantity": 1}],
	"shipping": 500, "tax": 398}`

const kwdOrder = `{"id": "KW-1", "placed_at": "2026-02-01T12:00:00+03:00", "currency": "KWD",
	"customer": {"email": "fatima@example.com"},
	"items": [{"product": {"id": "dates", "name": "Dates", "price": 1.234}, "quantity": 3}],
	"discount_value": 0.2, "shipping": 0.5, "tax": 0.125}`

// TestGoldenSeedAndCurrencies sends the seed's example order and orders in
// JPY (no decimals) and KWD (three) through the service and the real
// client to the strict fake, and compares what it received with golden
// files.
func TestGoldenSeedAndCurrencies(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	sch, err := klaviyotest.LoadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := sqliteService(t)
	svc.Publisher = syncPublisher{Sender: client(t, fake)}
	ctx := context.Background()
	place := func(body string) shop.Order {
		t.Helper()
		var o shop.Order
		if err := svc.Decode([]byte(body), &o); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Place(ctx, o); err != nil {
			t.Fatalf("order %s: %v", o.ID, err)
		}
		return o
	}
	place(seedOrder)
	place(jpyOrder)
	place(kwdOrder)

	got := fake.Events()
	goldens := map[string]string{"1234567890": "seed_placed_order.json", "JP-1": "jpy_placed_order.json", "KW-1": "kwd_placed_order.json", "KW-1:0": "kwd_ordered_product_0.json"}
	type fact struct{ Metric, UniqueID, Value, Currency, Time, Phone string }
	var facts []fact
	for _, e := range got {
		if name, ok := goldens[e.UniqueID]; ok && (e.Metric == "Placed Order" || e.UniqueID == "KW-1:0") {
			golden(t, name, e.Raw)
			if err := sch.ValidateJSON(klaviyotest.SliceEvent, e.Raw); err != nil {
				t.Error(err)
			}
		}
		phone, _ := e.Profile["phone_number"].(string)
		facts = append(facts, fact{e.Metric, e.UniqueID, e.Value.String(), e.ValueCurrency, e.Time, phone})
	}
	want := []fact{
		// 9.99 + 19.99 − 5 discount; zone-less time read in UTC.
		{"Placed Order", "1234567890", "24.98", "USD", "2022-12-05T15:00:00Z", "+15551234567"},
		{"Ordered Product", "1234567890:0", "9.99", "USD", "2022-12-05T15:00:00Z", "+15551234567"},
		{"Ordered Product", "1234567890:1", "19.99", "USD", "2022-12-05T15:00:00Z", "+15551234567"},
		// 2 × 1500 + 980 + 500 + 398, no decimals; a date is midnight.
		{"Placed Order", "JP-1", "4878", "JPY", "2026-02-01T00:00:00Z", "+819012345678"},
		{"Ordered Product", "JP-1:0", "3000", "JPY", "2026-02-01T00:00:00Z", "+819012345678"},
		{"Ordered Product", "JP-1:1", "980", "JPY", "2026-02-01T00:00:00Z", "+819012345678"},
		// 3 × 1.234 − 0.2 + 0.5 + 0.125, to the fils.
		{"Placed Order", "KW-1", "4.127", "KWD", "2026-02-01T09:00:00Z", ""},
		{"Ordered Product", "KW-1:0", "3.702", "KWD", "2026-02-01T09:00:00Z", ""},
	}
	if diff := cmp.Diff(want, facts); diff != "" {
		t.Errorf("events at the fake (-want +got):\n%s", diff)
	}

	// A partial refund in KWD is exact too, and capped exactly.
	if _, err := svc.Act(ctx, "KW-1", orders.Refunded, orders.Action{ID: "r1", Time: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC), Amount: mustMoney(t, "4.126")}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Act(ctx, "KW-1", orders.Refunded, orders.Action{ID: "r2", Amount: mustMoney(t, "0.002")}); apperr.ErrorField(err) != "amount" || apperr.ErrorCode(err) != apperr.EINVALID {
		t.Errorf("refund of 0.002 with 0.001 left: %v", err)
	}
	if last := fake.Events()[len(fake.Events())-1]; last.Value.String() != "4.126" {
		t.Errorf("KWD refund sent as %s", last.Value)
	}
}

func mustMoney(t *testing.T, s string) shop.Money {
	t.Helper()
	m, err := shop.ParseMoney(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAmountsBeyondTheCurrency(t *testing.T) {
	svc, _ := sqliteService(t)
	ctx := context.Background()
	for _, c := range []struct{ body, field string }{
		{`{"id":"j","placed_at":"2026-02-01","currency":"JPY","customer":{"email":"a@example.com"},"items":[{"product":{"id":"p","name":"P","price":1500.5},"quantity":1}]}`, "items[0].product.price"},
		{`{"id":"k","placed_at":"2026-02-01","currency":"KWD","customer":{"email":"a@example.com"},"items":[{"product":{"id":"p","name":"P","price":1.234},"quantity":1}],"tax":0.0005}`, "tax"},
		{`{"id":"u","placed_at":"2026-02-01","currency":"USD","customer":{"email":"a@example.com"},"items":[{"product":{"id":"p","name":"P","price":1},"quantity":1}],"total":1.005}`, "total"},
		{`{"id":"x","placed_at":"2026-02-01","currency":"XYZ","customer":{"email":"a@example.com"},"items":[{"product":{"id":"p","name":"P","price":1},"quantity":1}]}`, "currency"},
	} {
		var o shop.Order
		if err := svc.Decode([]byte(c.body), &o); err != nil {
			t.Fatal(err)
		}
		_, err := svc.Place(ctx, o)
		if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != c.field {
			t.Errorf("%s: %v; want 422 naming %s", c.body, err, c.field)
		}
	}
	// An action's amount in the order's currency.
	var o shop.Order
	svc.Decode([]byte(jpyOrder), &o)
	if _, err := svc.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Act(ctx, "JP-1", orders.Refunded, orders.Action{Amount: mustMoney(t, "10.5")}); apperr.ErrorField(err) != "amount" {
		t.Errorf("JPY refund of 10.5: %v", err)
	}
}
