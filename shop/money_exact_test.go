package shop_test

import (
	"encoding/json"
	"testing"

	"github.com/snippetd/snippetd/shop"
)

func TestMoneyInCurrency(t *testing.T) {
	tests := []struct {
		in       string
		currency string
		places   int
		want     string
	}{
		{"1.234", "KWD", 3, "1.234"},
		{"0.005", "KWD", 3, "0.005"},
		{"-1.234", "KWD", 3, "-1.234"},
		{"1.2", "KWD", 1, "1.2"},
		{"1500", "JPY", 0, "1500"},
		{"1500.0", "JPY", 0, "1500"},
		{"19.99", "USD", 2, "19.99"},
		{"1.2345", "CLF", 4, "1.2345"},
		{"1.234e1", "KWD", 2, "12.34"},
		{"1234e-3", "KWD", 3, "1.234"},
		{"1.23456", "KWD", 5, "1.235"}, // too precise: refused by the order's check, rounded if written
		{"0.0004", "KWD", 4, "0"},
	}
	for _, tt := range tests {
		m, err := shop.ParseMoney(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := shop.CurrencyDigits(tt.currency)
		got, _ := json.Marshal(m.In(d))
		if m.Places() != tt.places || string(got) != tt.want {
			t.Errorf("%s %s: places %d, written %s; want %d, %s", tt.in, tt.currency, m.Places(), got, tt.places, tt.want)
		}
	}
	// Arithmetic stays exact in the currency; unscaled amounts are cents
	// as before.
	p, _ := shop.ParseMoney("1.234")
	kwd := p.In(3)
	if got := kwd.Mul(3).Add(kwd).Sub(shop.Cents(1)).String(); got != "4.926" {
		t.Errorf("4 × 1.234 − 0.01 KWD = %s, want 4.926", got)
	}
	if got := p.Mul(3).String(); got != "3.69" {
		t.Errorf("unscaled 3 × 1.234 = %s, want 3.69 (3 × 1.23)", got)
	}
	a, _ := shop.ParseMoney("1.2345")
	b, _ := shop.ParseMoney("1.2344")
	if a.Cmp(b) != 1 || b.Cmp(a) != -1 || a.Cmp(a) != 0 || a.Cents() != b.Cents() {
		t.Errorf("Cmp(1.2345, 1.2344) = %d", a.Cmp(b))
	}
	n, _ := shop.ParseMoney("-0.0001")
	if n.Cmp(shop.Cents(0)) != -1 {
		t.Errorf("-0.0001 compares %d with 0", n.Cmp(shop.Cents(0)))
	}
}
