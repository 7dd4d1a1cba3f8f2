package render_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/render"
)

// batchLimit is the documented largest batch (openapi.json "maxItems": 100).
const batchLimit = 100

func identifyItem(i int) string {
	return fmt.Sprintf(`{"type":"identify","customer":{"email":"s%d@example.com"}}`, i)
}

func batch(items []string) []byte {
	return []byte(`{"snippets":[` + strings.Join(items, ",") + `]}`)
}

// TestBatchLimit: a batch of exactly 100 snippets renders all of them; 101
// is refused naming "snippets", as is an empty batch.
func TestBatchLimit(t *testing.T) {
	rd := render.Renderer{PublicKey: "AbC123"}
	var items []string
	for i := range batchLimit {
		items = append(items, identifyItem(i))
	}
	res, err := rd.RenderBatch(context.Background(), batch(items))
	if err != nil {
		t.Fatalf("batch of %d: %v", batchLimit, err)
	}
	if len(res.Pushes) != batchLimit {
		t.Errorf("batch of %d rendered %d pushes", batchLimit, len(res.Pushes))
	}
	_, err = rd.RenderBatch(context.Background(), batch(append(items, identifyItem(batchLimit))))
	wantField(t, "batch of 101", err, "snippets")
	_, err = rd.RenderBatch(context.Background(), batch(nil))
	wantField(t, "empty batch", err, "snippets")
}

// TestRenderQuantityLimit: the line quantity range at its ends through
// the render API, alone and inside a batch (where the field carries the
// item's index).
func TestRenderQuantityLimit(t *testing.T) {
	rd := render.Renderer{PublicKey: "AbC123"}
	line := func(q int64) string {
		return fmt.Sprintf(`{"product":{"id":"p1","name":"Mug","price":12.5},"quantity":%d}`, q)
	}
	cart := func(q int64) string {
		return `{"id":"c1","items":[` + line(1) + `,` + strings.Replace(line(q), "p1", "p2", 1) + `]}`
	}
	for _, tt := range []struct {
		q     int64
		field string
	}{{1, ""}, {1_000_000, ""}, {1_000_001, "cart.items[1].quantity"}, {0, "cart.items[1].quantity"}} {
		t.Run(fmt.Sprint(tt.q), func(t *testing.T) {
			checkout := `{"cart":` + cart(tt.q) + `,"time":"2026-01-02T03:04:05Z"}`
			_, err := rd.Render(context.Background(), render.StartedCheckout, []byte(checkout))
			wantField(t, "started-checkout", err, tt.field)

			added := `{"cart":` + cart(tt.q) + `,"added":` + line(1) + `}`
			_, err = rd.Render(context.Background(), render.AddedToCart, []byte(added))
			wantField(t, "added-to-cart", err, tt.field)

			inBatch := `{"type":"started-checkout",` + strings.TrimPrefix(checkout, "{")
			_, err = rd.RenderBatch(context.Background(), batch([]string{identifyItem(0), inBatch}))
			f := tt.field
			if f != "" {
				f = "snippets[1]." + f
			}
			wantField(t, "batch", err, f)
		})
	}
}

func wantField(t *testing.T, what string, err error, field string) {
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
