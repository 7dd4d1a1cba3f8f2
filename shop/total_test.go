package shop_test

import (
	"errors"
	"testing"
	"time"

	"github.com/snippetd/snippetd/shop"
)

func TestOrderTotal(t *testing.T) {
	m := func(s string) shop.Money {
		v, err := shop.ParseMoney(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	rows := []shop.LineItem{{Product: shop.Product{ID: "a", Name: "A", Price: m("19.99")}, Quantity: 3}, {Product: shop.Product{ID: "b", Name: "B", Price: m("0.10")}, Quantity: 1}}
	tests := []struct {
		name string
		o    shop.Order
		want string
	}{
		{"rows only", shop.Order{Items: rows}, "60.07"},
		{"discount", shop.Order{Items: rows, DiscountValue: m("5")}, "55.07"},
		{"discount shipping tax", shop.Order{Items: rows, DiscountValue: m("5.01"), Shipping: m("4.95"), Tax: m("3.33")}, "63.34"},
		{"subtotal is carried, not counted", shop.Order{Items: rows, Subtotal: m("1")}, "60.07"},
		{"total wins", shop.Order{Items: rows, DiscountValue: m("5"), Shipping: m("4.95"), Total: m("10")}, "10"},
	}
	for _, tt := range tests {
		if got := tt.o.OrderTotal().String(); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	over := shop.Order{ID: "1", PlacedAt: now(), Customer: shop.Customer{Email: "a@example.com"}, Items: rows, DiscountValue: m("100")}
	if err := over.Validate(""); fieldOf(err) != "discount_value" {
		t.Errorf("discount over the rows: %v", err)
	}
	for _, f := range []string{"subtotal", "shipping", "tax"} {
		o := over
		o.DiscountValue = shop.Money{}
		switch f {
		case "subtotal":
			o.Subtotal = m("-1")
		case "shipping":
			o.Shipping = m("-1")
		case "tax":
			o.Tax = m("-1")
		}
		if err := o.Validate("order"); fieldOf(err) != "order."+f {
			t.Errorf("negative %s: %v", f, err)
		}
	}
}

func now() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func fieldOf(err error) string {
	var fe *shop.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}
