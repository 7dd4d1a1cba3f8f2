package shop_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/shop"
)

// TestMoneyExponentRoundsLikePlainDecimal: an amount written with an
// exponent takes a different parser than a plain decimal; both must round
// half up (away from zero for negative amounts) to the same cents. Every
// row is parsed in its plain form and in several exponent spellings of the
// same number, through ParseMoney and through JSON decoding.
func TestMoneyExponentRoundsLikePlainDecimal(t *testing.T) {
	tests := []struct {
		plain string
		exp   []string
		cents int64
	}{
		{"1.235", []string{"1.235e0", "1235e-3", "0.1235e1", "123.5E-2"}, 124},
		{"12.345", []string{"1.2345e1", "12345e-3", "1.2345E+1"}, 1235},
		{"1.234", []string{"1.234e0", "1234e-3"}, 123},
		{"0.005", []string{"5e-3", "0.5e-2", "50e-4"}, 1},
		{"0.00499", []string{"4.99e-3", "499e-5"}, 0},
		{"0.0049999999", []string{"4.9999999e-3"}, 0},
		{"19.995", []string{"1.9995e1", "19995e-3"}, 2000},
		{"99.999", []string{"9.9999e1", "99999e-3"}, 10000},
		{"-1.235", []string{"-1.235e0", "-1235e-3"}, -124},
		{"-1.234", []string{"-1.234e0", "-1234e-3"}, -123},
		{"-0.005", []string{"-5e-3"}, -1},
		{"-0.004", []string{"-4e-3"}, 0},
		{"100", []string{"1e2", "1E2", "0.1e3", "10000e-2"}, 10000},
		{"0.1", []string{"1e-1"}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.plain, func(t *testing.T) {
			for _, s := range append([]string{tt.plain}, tt.exp...) {
				m, err := shop.ParseMoney(s)
				if err != nil {
					t.Fatalf("ParseMoney(%q): %v", s, err)
				}
				if m.Cents() != tt.cents {
					t.Errorf("ParseMoney(%q) = %d cents, want %d", s, m.Cents(), tt.cents)
				}
				var j shop.Money
				if err := json.Unmarshal([]byte(s), &j); err != nil {
					t.Fatalf("json %s: %v", s, err)
				}
				if j.Cents() != tt.cents || !j.IsSet() {
					t.Errorf("json %s = %d cents (set %v), want %d", s, j.Cents(), j.IsSet(), tt.cents)
				}
			}
		})
	}
}

// TestMoneyPathsAgreeOnEveryThirdDigit sweeps the digit that decides the
// rounding: for every amount w.dfx (x the third fraction digit) the plain
// form and its exponent form must give the same cents, and that must be
// the two-digit amount plus one exactly when x ≥ 5.
func TestMoneyPathsAgreeOnEveryThirdDigit(t *testing.T) {
	for _, sign := range []string{"", "-"} {
		for _, two := range []string{"0.00", "0.99", "7.49", "123.45"} {
			base, err := shop.ParseMoney(sign + two)
			if err != nil {
				t.Fatal(err)
			}
			for x := '0'; x <= '9'; x++ {
				plain := sign + two + string(x)
				digits := strings.Replace(two, ".", "", 1) + string(x)
				exp := sign + digits + "e-3"
				want := base.Cents()
				if x >= '5' {
					if sign == "-" {
						want--
					} else {
						want++
					}
				}
				for _, s := range []string{plain, exp, plain + "e0", plain + "0e0"} {
					m, err := shop.ParseMoney(s)
					if err != nil {
						t.Fatalf("ParseMoney(%q): %v", s, err)
					}
					if m.Cents() != want {
						t.Errorf("ParseMoney(%q) = %d cents, want %d", s, m.Cents(), want)
					}
				}
			}
		}
	}
}

// TestMoneyRange: amounts are bounded at 10^15 units so that sums and
// products of carts cannot overflow; the bound holds on both paths, and
// exactly at it.
func TestMoneyRange(t *testing.T) {
	const limit = "1000000000000000" // 10^15 units, the largest amount
	tests := []struct {
		in string
		ok bool
	}{
		{limit, true},
		{limit + ".00", true},
		{limit + ".004", true}, // rounds down to the limit
		{"1e15", true},
		{"-" + limit, true},
		{"999999999999999.99", true},
		{limit + ".01", false},
		{limit + ".99", false},
		{limit + ".005", false}, // rounds up past the limit
		{"1000000000000001", false},
		{"1.00000000000000001e15", false},
		{"1e16", false},
		{"-" + limit + ".01", false},
		{"-1e16", false},
		{"1e400", false},
		// Whole parts that overflow int64 when counted in cents.
		{"99999999999999999", false},
		{"-99999999999999999", false},
		{"92233720368547759", false},
	}
	for _, tt := range tests {
		_, err := shop.ParseMoney(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseMoney(%s): err = %v, want ok=%v", tt.in, err, tt.ok)
		}
		var m shop.Money
		err = json.Unmarshal([]byte(tt.in), &m)
		if (err == nil) != tt.ok {
			t.Errorf("json %s: err = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
