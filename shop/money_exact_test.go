package shop_test

import (
	"encoding/json"
	"math/big"
	"math/rand/v2"
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

// TestMoneyExactRoundTrip: any amount with at most four decimals, parsed
// and scaled to four, is written back as its shortest decimal form, and
// sums stay exact.
func TestMoneyExactRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		whole, frac := r.Int64N(1_000_000_000), r.Int64N(10_000)
		neg := r.IntN(4) == 0
		want := new(big.Rat).SetFrac64(whole*10_000+frac, 10_000)
		if neg {
			want.Neg(want)
		}
		text := want.FloatString(4)
		m, err := shop.ParseMoney(text)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := new(big.Rat).SetString(m.In(4).String())
		if !ok || got.Cmp(want) != 0 {
			t.Fatalf("%s written as %s", text, m.In(4))
		}
		sum := m.In(4).Add(m).Mul(3)
		if s, _ := new(big.Rat).SetString(sum.String()); s.Cmp(new(big.Rat).Mul(want, big.NewRat(6, 1))) != 0 {
			t.Fatalf("6 × %s written as %s", text, sum)
		}
	}
}
