package demo_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/snippetd/snippetd/internal/demo"
)

// TestRestoreRoute rebuilds the cart cookie from a restore URL as
// snippetd's carts package writes it (ids percent-encoded inside the
// query value), dropping unknown products and bad quantities.
func TestRestoreRoute(t *testing.T) {
	s := demo.New(demo.Options{Helpers: testHelpers(t)})
	for _, tt := range []struct{ query, cookie, cartID string }{
		{"items=kettle:1,mug:2&cart=cart-abc", "kettle:1,mug:2", "cart-abc"},
		{"items=ket%2574le:3&cart=x", "kettle:3", "x"}, // "ket%74le" after one decoding
		{"items=nope:1,mug:0,mug:x,mug:200,kettle&cart=", "mug:99", ""},
		{"items=", "", ""},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/demo/cart/restore?"+tt.query, nil))
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/demo/cart" {
			t.Fatalf("%s: %d %v", tt.query, rec.Code, rec.Header())
		}
		got := map[string]string{}
		for _, c := range rec.Result().Cookies() {
			got[c.Name] = c.Value
		}
		if got["snippetd_demo_cart"] != tt.cookie {
			t.Errorf("%s: cart cookie %q, want %q", tt.query, got["snippetd_demo_cart"], tt.cookie)
		}
		if got["snippetd_demo_cart_id"] != tt.cartID {
			t.Errorf("%s: cart id cookie %q, want %q", tt.query, got["snippetd_demo_cart_id"], tt.cartID)
		}
	}
}
