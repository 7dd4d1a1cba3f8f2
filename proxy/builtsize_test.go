package proxy

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
)

// The built properties of an input-form event are scanned only when the
// decoded inputs could put them over a limit. Whatever the limits, an
// event accepted without the scan must be one the scan accepts, with the
// same bytes, and an event over a limit is refused as the scan words it.
func TestBuiltPropertiesWithinTheInputsBound(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	cats := func(prefix string, n int) string {
		var q []string
		for i := range n {
			q = append(q, fmt.Sprintf("%q", fmt.Sprintf("%s%d", prefix, i)))
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	line := func(id string, n int) string {
		return fmt.Sprintf(`{"product":{"id":%q,"name":"Mug <b>","categories":%s,"price":12.5},"quantity":1}`, id, cats(id, n))
	}
	cart := func(lines ...string) string {
		return `{"id":"c1","checkout_url":"https://s.example/co","items":[` + strings.Join(lines, ",") + `]}`
	}
	var bodies []string
	for n := range 5 {
		bodies = append(bodies,
			fmt.Sprintf(`{"events":[{"metric":"Viewed Product","product":{"id":"p1","name":"Mug","sku":"%s","categories":%s,"price":12.5}}]}`, strings.Repeat("s", 3*n), cats("k", n)),
			fmt.Sprintf(`{"events":[{"metric":"Added to Cart","cart":%s,"added":%s}]}`, cart(line("a", n), line("b", 1)), line("a", n)),
			fmt.Sprintf(`{"events":[{"metric":"Started Checkout","cart":%s}]}`, cart(line("a", n), line("b", n), line("c", 0))),
			fmt.Sprintf(`{"events":[{"metric":"Viewed Category","category":{"id":"c","name":"n%s","product_ids":%s}}]}`, strings.Repeat("n", 4*n), cats("p", n)),
			fmt.Sprintf(`{"events":[{"metric":"Searched Site","search":{"term":"t%s","results_count":3,"product_ids":%s}}]}`, strings.Repeat("t", 5*n), cats("p", n)),
		)
	}
	checked, refused := 0, 0
	for _, limits := range []EventLimits{{}, {MaxArray: 2}, {MaxArray: 3, MaxString: 9}, {MaxString: 12}, {MaxDepth: 3}, {MaxDepth: 4, MaxArray: 4}, {MaxProperties: 5}, {MaxProperties: 16, MaxString: 20}} {
		v := NewValidator(nil, limits)
		for _, body := range bodies {
			b, err := v.DecodeBatch([]byte(body), now)
			if err != nil {
				if !strings.Contains(apperr.ErrorMessage(err), "gives properties over the limits") {
					t.Fatalf("limits %+v: %s: %v", limits, body, err)
				}
				refused++
				continue
			}
			for _, e := range b.Events {
				scanned, err := v.validateProperties(e.Properties, "properties")
				if err != nil {
					t.Errorf("limits %+v: accepted properties the scan refuses (%v): %s", limits, err, e.Properties)
				} else if !bytes.Equal(scanned, e.Properties) {
					t.Errorf("limits %+v: properties %s, scanned %s", limits, e.Properties, scanned)
				}
				checked++
			}
		}
	}
	if checked == 0 || refused == 0 {
		t.Fatalf("%d events checked, %d refused: the bodies do not reach both sides of the limits", checked, refused)
	}
}
