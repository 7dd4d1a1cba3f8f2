package shop_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// maxQuantity is the documented largest quantity of a line (README's API
// examples, openapi.json's "maximum": 1000000).
const maxQuantity = 1_000_000

// TestQuantityLimit: a line's quantity is 1 to 1,000,000 in a cart and in
// an order; one past either end is refused, naming the line's quantity.
func TestQuantityLimit(t *testing.T) {
	for _, tt := range []struct {
		q     int64
		valid bool
	}{{1, true}, {2, true}, {maxQuantity - 1, true}, {maxQuantity, true}, {maxQuantity + 1, false}, {0, false}, {-1, false}} {
		t.Run(fmt.Sprint(tt.q), func(t *testing.T) {
			lines := fmt.Sprintf(`[{"product":{"id":"a","name":"A","price":1},"quantity":1},{"product":{"id":"p","name":"P","price":2.5},"quantity":%d}]`, tt.q)
			var c shop.Cart
			if err := json.Unmarshal([]byte(`{"id":"c1","items":`+lines+`}`), &c); err != nil {
				t.Fatal(err)
			}
			checkLimit(t, "cart", c.Validate("cart"), tt.valid, "cart.items[1].quantity")

			var o shop.Order
			if err := json.Unmarshal([]byte(`{"id":"o1","placed_at":"2026-01-02T03:04:05Z","customer":{"email":"a@example.com"},"items":`+lines+`}`), &o); err != nil {
				t.Fatal(err)
			}
			checkLimit(t, "order", o.Validate(""), tt.valid, "items[1].quantity")
			checkLimit(t, "nested order", o.Validate("order"), tt.valid, "order.items[1].quantity")
		})
	}
}

// TestQuantityLimitKeepsTotalsExact: at the largest quantity and a large
// price the cart total is still exact.
func TestQuantityLimitKeepsTotalsExact(t *testing.T) {
	p, err := shop.ParseMoney("99999.99")
	if err != nil {
		t.Fatal(err)
	}
	c := shop.Cart{ID: "c", Items: []shop.LineItem{{Product: shop.Product{ID: "p", Name: "P", Price: p}, Quantity: maxQuantity}}}
	if err := c.Validate("cart"); err != nil {
		t.Fatal(err)
	}
	if got := c.Total().String(); got != "99999990000" {
		t.Errorf("total = %s, want 99999990000", got)
	}
}

func checkLimit(t *testing.T, what string, err error, valid bool, field string) {
	t.Helper()
	switch {
	case valid && err != nil:
		t.Errorf("%s: refused at the limit: %v", what, err)
	case !valid && err == nil:
		t.Errorf("%s: accepted past the limit, want an error naming %s", what, field)
	case !valid:
		if got := apperr.ErrorField(err); got != field {
			t.Errorf("%s: error names %q, want %q (%v)", what, got, field, err)
		}
		if got := apperr.ErrorCode(err); got != apperr.EINVALID {
			t.Errorf("%s: code %q, want %q", what, got, apperr.EINVALID)
		}
	}
}
