package demo

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/snippets"
)

func TestParseCartToleratesStaleCookies(t *testing.T) {
	for _, c := range []struct {
		cookie string
		want   []Line
	}{
		{"", nil},
		{"mug:2", []Line{{"mug", 2}}},
		{"mug:2,kettle:1,mug:1", []Line{{"mug", 3}, {"kettle", 1}}},
		{"gone:1,mug:x,mug:-1,mug:0,:3,mug", nil},
		{"mug:1000", []Line{{"mug", MaxQuantity}}},
		{"mug:98,mug:5", []Line{{"mug", MaxQuantity}}},
	} {
		if d := cmp.Diff(c.want, ParseCart(c.cookie)); d != "" {
			t.Errorf("ParseCart(%q) (-want +got):\n%s", c.cookie, d)
		}
	}
	lines := []Line{{"mug", 2}, {"kettle", 1}}
	if got := ParseCart(FormatCart(lines)); !cmp.Equal(lines, got) {
		t.Errorf("round trip: %v", got)
	}
	if got := RemoveLine(lines, "mug"); !cmp.Equal([]Line{{"kettle", 1}}, got) || len(lines) != 2 {
		t.Errorf("RemoveLine = %v (input %v)", got, lines)
	}
}

// Every catalog product and every cart of them must pass the snippets'
// validation, or a demo page would fail to render.
func TestCatalogRendersEverySnippet(t *testing.T) {
	const base = "http://localhost:8080"
	var lines []Line
	for _, it := range Catalog {
		if _, err := snippets.ViewedProductPushes(it.WithURLs(base)); err != nil {
			t.Errorf("%s: %v", it.ID, err)
		}
		lines = AddLine(lines, it.ID, 2)
	}
	c := Cart("cart-1", base, lines)
	if _, err := snippets.StartedCheckoutPushes(c, time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("Started Checkout of the whole catalog: %v", err)
	}
	if _, err := snippets.AddedToCartPushes(c, c.Items[len(c.Items)-1]); err != nil {
		t.Errorf("Added to Cart: %v", err)
	}
	var want int64
	for _, it := range Catalog {
		want += 2 * it.Price.Cents()
	}
	if got := c.Total().Cents(); got != want || Count(lines) != int64(2*len(Catalog)) {
		t.Errorf("cart total %d cents, count %d; want %d, %d", got, Count(lines), want, 2*len(Catalog))
	}
}
