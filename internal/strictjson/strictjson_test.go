package strictjson

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// doc exercises the shapes request bodies have: shop types nested in
// objects and arrays, exact money, times, booleans and nested arrays.
type doc struct {
	Cart  shop.Cart   `json:"cart"`
	Order *shop.Order `json:"order,omitempty"`
	Flag  bool        `json:"flag,omitempty"`
	Grid  [][]int     `json:"grid,omitempty"`
}

func TestDecodeErrors(t *testing.T) {
	type want struct{ Code, Field, Message string }
	bad := func(field, msg string) want { return want{apperr.EBADREQUEST, field, msg} }
	tests := []struct {
		name, body string
		want       want
	}{
		{"unknown member", `{"cart":{"id":"c"},"bogus":1}`, bad("bogus", "unknown field")},
		{"unknown member in an array", `{"cart":{"items":[{},{"product":{"colour":"red"}}]}}`, bad("cart.items[1].product.colour", "unknown field")},
		{"names match exactly", `{"Cart":{}}`, bad("Cart", "unknown field")},
		{"duplicate member", `{"cart":{"id":"a","id":"b"}}`, bad("cart.id", "duplicate field")},
		{"trailing value", `{"cart":{}} {}`, bad("", "body holds data after the JSON document")},
		{"trailing garbage", "{\"cart\":{}}\n x", bad("", "body holds data after the JSON document")},
		{"malformed inside", `{"cart":{"id":"a",}}`, bad("cart", "malformed JSON")},
		{"invalid UTF-8", "{\"cart\":{\"id\":\"\xff\"}}", bad("", "body is not valid UTF-8")},
		{"truncated", `{"cart":{"items":[`, bad("cart.items", "body is empty or truncated JSON")},
		{"empty", ``, bad("", "body is empty or truncated JSON")},
		{"string for a string", `{"cart":{"id":5}}`, bad("cart.id", "must be a string")},
		{"object for an array", `{"cart":{"items":{}}}`, bad("cart.items", "must be an array")},
		{"string for a number", `{"cart":{"items":[{"quantity":"2"}]}}`, bad("cart.items[0].quantity", "must be a number")},
		{"fraction for a whole number", `{"cart":{"items":[{},{"quantity":1.5}]}}`, bad("cart.items[1].quantity", "must be a number")},
		{"array for an object", `{"order":[]}`, bad("order", "must be an object")},
		{"string for a boolean", `{"flag":"yes"}`, bad("flag", "must be a boolean")},
		{"not a time", `{"order":{"placed_at":"yesterday"}}`, bad("order.placed_at", "must be an RFC 3339 time")},
		{"nested arrays", `{"grid":[[1],[2,"x"]]}`, bad("grid[1][1]", "must be a number")},
		{"money as a string", `{"cart":{"items":[{},{"product":{"price":"1.00"}}]}}`, bad("cart.items[1].product.price", "an amount must be a number")},
		{"money out of range", `{"order":{"total":1e400}}`, bad("order.total", "an amount is out of range")},
		{"money as a boolean", `{"order":{"discount_value":true}}`, bad("order.discount_value", "an amount must be a number")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(tt.body), &d)
			e, ok := err.(*apperr.Error)
			if !ok {
				t.Fatalf("Decode(%s) = %v, want an *apperr.Error", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, want{e.Code, e.Field, e.Message}); diff != "" {
				t.Errorf("Decode(%s) (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestDecodeValid(t *testing.T) {
	body := `{"cart":{"id":"c","items":[{"product":{"id":"p","name":"Mug","price":19.99},"quantity":3}]},
		"order":{"id":"o","placed_at":"2026-01-02T03:04:05Z","total":1e2},"flag":true,"grid":[[1,2],[]]}`
	var got doc
	if err := Decode([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := doc{
		Cart:  shop.Cart{ID: "c", Items: []shop.LineItem{{Product: shop.Product{ID: "p", Name: "Mug", Price: shop.Cents(1999)}, Quantity: 3}}},
		Order: &shop.Order{ID: "o", PlacedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Total: shop.Cents(10000)},
		Flag:  true,
		Grid:  [][]int{{1, 2}, {}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(shop.Money{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
