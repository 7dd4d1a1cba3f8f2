package orders_test

import (
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/shop"
)

// TestStrictKeys: orders, actions and backfill lines refuse duplicate
// keys (the last would win silently) and keys in another case, naming the
// field.
func TestStrictKeys(t *testing.T) {
	const order = `{"id":"1","placed_at":"2026-02-01T00:00:00Z","customer":{"email":"a@example.com"},"items":[{"product":{"id":"p","name":"P","price":19},"quantity":1}],"total":19}`
	tests := []struct {
		name, body, field, msg string
		action                 bool
	}{
		{"duplicate total", strings.Replace(order, `"total":19`, `"total":19,"total":5000`, 1), "total", "duplicate", false},
		{"duplicate nested", strings.Replace(order, `"quantity":1`, `"quantity":1,"quantity":9`, 1), "items[0].quantity", "duplicate", false},
		{"case of a key", strings.Replace(order, `"total"`, `"Total"`, 1), "Total", "unknown field", false},
		{"case of a nested key", strings.Replace(order, `"price"`, `"Price"`, 1), "items[0].product.Price", "unknown field", false},
		{"action duplicate amount", `{"amount":1,"amount":100}`, "amount", "duplicate", true},
		{"action key case", `{"Amount":1}`, "Amount", "unknown field", true},
		{"action's order duplicate", `{"order":` + strings.Replace(order, `"total":19`, `"total":19,"total":5000`, 1) + `}`, "order.total", "duplicate", true},
	}
	for _, tt := range tests {
		var v any = &shop.Order{}
		if tt.action {
			v = &orders.Action{}
		}
		err := orders.Decode([]byte(tt.body), v, nil)
		if apperr.ErrorCode(err) != apperr.EBADREQUEST || apperr.ErrorField(err) != tt.field || !strings.Contains(apperr.ErrorMessage(err), tt.msg) {
			t.Errorf("%s: %v; want 400 naming %s (%s)", tt.name, err, tt.field, tt.msg)
		}
	}
	// Backfill: JSON lines and a JSON array, one bad order each.
	lines := order + "\n" + strings.Replace(strings.Replace(order, `"total":19`, `"total":19,"total":5000`, 1), `"id":"1"`, `"id":"2"`, 1) + "\n" +
		strings.Replace(strings.Replace(order, `"total"`, `"TOTAL"`, 1), `"id":"1"`, `"id":"3"`, 1) + "\n"
	for _, f := range []struct{ format, data string }{{"jsonl", lines}, {"json", "[" + strings.Join(strings.Split(strings.TrimSpace(lines), "\n"), ",") + "]"}} {
		in, err := orders.ReadOrders(strings.NewReader(f.data), f.format, time.UTC)
		if err != nil || len(in) != 3 {
			t.Fatalf("%s: %v %v", f.format, in, err)
		}
		if in[0].Err != nil || apperr.ErrorField(in[1].Err) != "total" || !strings.Contains(apperr.ErrorMessage(in[1].Err), "duplicate") ||
			apperr.ErrorField(in[2].Err) != "TOTAL" || in[2].Line != 3 {
			t.Errorf("%s: %v / %v / %v", f.format, in[0].Err, in[1].Err, in[2].Err)
		}
	}
}
