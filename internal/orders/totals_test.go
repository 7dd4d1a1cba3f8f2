package orders_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/shop"
)

func TestTotalsAndTheirProperties(t *testing.T) {
	ctx := context.Background()
	svc, rec := sqliteService(t)
	o := sampleOrder(t) // rows 9.99 + 2 × 19.99 = 49.97, discount 5
	o.Total = shop.Money{}
	o.Subtotal, _ = shop.ParseMoney("49.97")
	o.Shipping, _ = shop.ParseMoney("4.95")
	o.Tax, _ = shop.ParseMoney("3.51")
	if _, err := svc.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	placed := rec.got[0][0]
	if placed.Value.String() != "53.43" { // 49.97 − 5 + 4.95 + 3.51
		t.Errorf("Placed Order value %s, want 53.43", placed.Value)
	}
	var p map[string]any
	json.Unmarshal(placed.Properties, &p)
	for k, want := range map[string]float64{"DiscountValue": 5, "Subtotal": 49.97, "Shipping": 4.95, "Tax": 3.51} {
		if p[k] != want {
			t.Errorf("property %s = %v, want %v", k, p[k], want)
		}
	}

	// A partial refund carries neither shipping nor tax; a refund over
	// the order's total is refused.
	if _, err := svc.Act(ctx, o.ID, orders.Refunded, orders.Action{Items: []orders.ActionItem{{ProductID: "1111"}}}); err != nil {
		t.Fatal(err)
	}
	p = nil
	json.Unmarshal(rec.got[len(rec.got)-1][0].Properties, &p)
	if _, ok := p["Shipping"]; ok {
		t.Errorf("partial refund carries Shipping: %v", p)
	}
	over, _ := shop.ParseMoney("53.44")
	_, err := svc.Act(ctx, o.ID, orders.Cancelled, orders.Action{Amount: over})
	if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != "amount" {
		t.Errorf("cancel over the total: %v, want 422 on amount", err)
	}
}
