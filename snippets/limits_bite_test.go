package snippets_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// TestCartQuantityLimits: the documented quantity range (1 to 1,000,000)
// at each end, through every snippet that takes a cart, as a builder call
// and as a rendered component; past the limit the error names the line.
// The added line may not hold more than the cart line it is.
func TestCartQuantityLimits(t *testing.T) {
	const max = 1_000_000
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	product := func(id string) shop.Product {
		return shop.Product{ID: id, Name: "Item " + id, Price: shop.Cents(250), Categories: []string{"C"}}
	}
	for _, tt := range []struct {
		name       string
		cartQ      int64 // quantity of the second cart line
		addedQ     int64
		wantField  string // "" when valid
		checkoutOK bool
	}{
		{"one", 1, 1, "", true},
		{"at the limit", max, max, "", true},
		{"added at the limit, line at the limit", max, 1, "", true},
		{"line past the limit", max + 1, 1, "cart.items[1].quantity", false},
		{"line zero", 0, 1, "cart.items[1].quantity", false},
		{"added past the limit", max, max + 1, "added.quantity", true},
		{"added zero", 5, 0, "added.quantity", true},
		{"added equal to its line", 5, 5, "", true},
		{"added more than its line", 5, 6, "added.quantity", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := shop.Cart{ID: "cart-1", Items: []shop.LineItem{
				{Product: product("a"), Quantity: 1},
				{Product: product("b"), Quantity: tt.cartQ},
			}}
			added := shop.LineItem{Product: product("b"), Quantity: tt.addedQ}

			_, err := snippets.AddedToCartPushes(c, added)
			limitErr(t, "AddedToCartPushes", err, tt.wantField)
			limitErr(t, "ValidateAddedToCart", snippets.ValidateAddedToCart(c, added), tt.wantField)
			limitErr(t, "AddedToCart component", renderErr(snippets.AddedToCart(c, added)), tt.wantField)

			wantCheckout := ""
			if !tt.checkoutOK {
				wantCheckout = tt.wantField
			}
			_, err = snippets.StartedCheckoutPushes(c, at)
			limitErr(t, "StartedCheckoutPushes", err, wantCheckout)
			limitErr(t, "StartedCheckout component", renderErr(snippets.StartedCheckout(c, at)), wantCheckout)
		})
	}
}

// TestCartQuantityLimitsInPushes: a quantity at the limit reaches the
// payload as written (no clamping), and the value is exact.
func TestCartQuantityLimitsInPushes(t *testing.T) {
	c := shop.Cart{ID: "c", Items: []shop.LineItem{{Product: shop.Product{ID: "p", Name: "P", Price: shop.Cents(1999)}, Quantity: 1_000_000}}}
	ps, err := snippets.StartedCheckoutPushes(c, time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, p := range ps {
		all.Write(p)
	}
	for _, want := range []string{`"Quantity":1000000`, `"$value":19990000`} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("pushes lack %s:\n%s", want, all.String())
		}
	}
}

func renderErr(s snippets.Snippet) error {
	var b bytes.Buffer
	return s.Render(context.Background(), &b)
}

func limitErr(t *testing.T, what string, err error, field string) {
	t.Helper()
	switch {
	case field == "" && err != nil:
		t.Errorf("%s: refused: %v", what, err)
	case field != "" && err == nil:
		t.Errorf("%s: accepted, want an error naming %s", what, field)
	case field != "":
		if got := apperr.ErrorField(err); got != field {
			t.Errorf("%s: error names %q, want %q (%v)", what, got, field, err)
		}
		if got := apperr.ErrorCode(err); got != apperr.EINVALID {
			t.Errorf("%s: code %q, want %q", what, got, apperr.EINVALID)
		}
	}
}
