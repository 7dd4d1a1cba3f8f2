package orders_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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

func TestBackfillCSVTotals(t *testing.T) {
	csv := "order_id,placed_at,currency,email,product_id,product_name,price,quantity,discount_value,subtotal,shipping,tax\n" +
		"1,2026-02-01,KWD,a@example.com,p,P,1.234,2,0.1,2.468,0.5,0.125\n"
	in, err := orders.ReadOrders(strings.NewReader(csv), "csv", time.UTC)
	if err != nil || len(in) != 1 || in[0].Err != nil {
		t.Fatalf("%+v %v", in, err)
	}
	o, _, err := orders.Prepare(in[0].Order, orders.Defaults{}, "")
	if err != nil {
		t.Fatal(err)
	}
	// 2 × 1.234 − 0.1 + 0.5 + 0.125
	if got := o.OrderTotal().String(); got != "2.993" || o.Subtotal.String() != "2.468" {
		t.Errorf("total %s, subtotal %s", got, o.Subtotal)
	}
}
