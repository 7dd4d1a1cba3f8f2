package orders_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/shop"
)

var limitsPlaced = time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)

func limitsOrder(lines ...shop.LineItem) shop.Order {
	return shop.Order{ID: "o-1", PlacedAt: limitsPlaced, Currency: "USD",
		Customer: shop.Customer{Email: "a@example.com"}, Items: lines}
}

func limitsLine(id string, q int64) shop.LineItem {
	return shop.LineItem{Product: shop.Product{ID: id, Name: "Item " + id, Price: shop.Cents(950)}, Quantity: q}
}

// validatedPlace and validatedAct run the service's whole validation: without a publisher a
// valid request ends in EUNAVAILABLE ("no Klaviyo sender") after every
// check passed, and an invalid one in the validation error. The service
// needs no store to place one; an action reads the order's earlier
// actions, from an empty SQLite store.
func validatedPlace(o shop.Order) error {
	s := &orders.Service{Now: func() time.Time { return limitsPlaced.Add(time.Hour) }}
	_, err := s.Place(context.Background(), o)
	return err
}

func validatedAct(t *testing.T, k orders.Kind, a orders.Action) error {
	st, err := orders.OpenStore(context.Background(), dbtest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	s := &orders.Service{Store: st, Now: func() time.Time { return limitsPlaced.Add(time.Hour) }}
	_, err = s.Act(context.Background(), a.Order.ID, k, a)
	return err
}

func wantLimit(t *testing.T, what string, err error, field string) {
	t.Helper()
	if field == "" {
		if apperr.ErrorCode(err) != apperr.EUNAVAILABLE {
			t.Errorf("%s: refused at the limit: %v", what, err)
		}
		return
	}
	if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != field {
		t.Errorf("%s: %v (code %q, field %q), want %s naming %q", what, err, apperr.ErrorCode(err), apperr.ErrorField(err), apperr.EINVALID, field)
	}
}

// TestPlaceLimits: the documented limits an order meets when placed, each
// at the limit and one past it: the line quantity (1,000,000), a string
// Klaviyo keeps (100 KB, here a product name, which lands in ItemNames
// first), and a property array (4,000 items, here the lines of an order).
func TestPlaceLimits(t *testing.T) {
	lines := func(n int) []shop.LineItem {
		out := make([]shop.LineItem, n)
		for i := range out {
			out[i] = limitsLine(fmt.Sprint("p", i), 1)
		}
		return out
	}
	named := func(name string) shop.LineItem {
		l := limitsLine("p", 1)
		l.Product.Name = name
		return l
	}
	tests := []struct {
		name  string
		o     shop.Order
		field string
	}{
		{"quantity at the limit", limitsOrder(limitsLine("a", 1), limitsLine("b", 1_000_000)), ""},
		{"quantity past the limit", limitsOrder(limitsLine("a", 1), limitsLine("b", 1_000_001)), "items[1].quantity"},
		{"name at 100 KB", limitsOrder(named(strings.Repeat("n", klaviyo.MaxStringBytes))), ""},
		{"name past 100 KB", limitsOrder(named(strings.Repeat("n", klaviyo.MaxStringBytes+1))), "(Placed Order event).properties.ItemNames[0]"},
		{"4,000 lines", limitsOrder(lines(4000)...), ""},
		{"4,001 lines", limitsOrder(lines(4001)...), "(Placed Order event).properties.ItemNames"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLimit(t, tt.name, validatedPlace(tt.o), tt.field)
		})
	}
}

// TestActionLimits: an action's reason (at most 1,000 characters) and an
// affected line's quantity (at most what the order holds) at the limit
// and one past it.
func TestActionLimits(t *testing.T) {
	o := limitsOrder(limitsLine("a", 1), limitsLine("b", 3))
	tests := []struct {
		name  string
		kind  orders.Kind
		a     orders.Action
		field string
	}{
		{"reason at 1000", orders.Cancelled, orders.Action{Reason: strings.Repeat("r", 1000)}, ""},
		{"reason at 1000 after trimming", orders.Cancelled, orders.Action{Reason: "  " + strings.Repeat("r", 1000) + "\n"}, ""},
		{"reason at 1000 characters of two bytes", orders.Cancelled, orders.Action{Reason: strings.Repeat("é", 1000)}, ""},
		{"reason past 1000 characters of two bytes", orders.Cancelled, orders.Action{Reason: strings.Repeat("é", 1001)}, "reason"},
		{"reason past 1000", orders.Refunded, orders.Action{Reason: strings.Repeat("r", 1001)}, "reason"},
		{"item quantity at the line's", orders.Refunded, orders.Action{Items: []orders.ActionItem{{ProductID: "b", Quantity: 3}}}, ""},
		{"item quantity past the line's", orders.Refunded, orders.Action{Items: []orders.ActionItem{{ProductID: "b", Quantity: 4}}}, "items[0].quantity"},
		{"order in the action past the quantity limit", orders.Fulfilled, orders.Action{Order: ptrOrder(limitsOrder(limitsLine("a", 1_000_001)))}, "order.items[0].quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a.Order == nil {
				tt.a.Order = &o
			}
			tt.a.Time = limitsPlaced.Add(time.Minute)
			wantLimit(t, tt.name, validatedAct(t, tt.kind, tt.a), tt.field)
		})
	}
}

func ptrOrder(o shop.Order) *shop.Order { return &o }
