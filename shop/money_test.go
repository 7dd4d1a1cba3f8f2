package shop

import (
	"encoding/json"
	"testing"
)

func TestMoneyRoundTrip(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"29.98", "29.98"},
		{"19.99", "19.99"},
		{"10", "10"},
		{"10.0", "10"},
		{"9.90", "9.9"},
		{"0.005", "0.01"},
		{"0.004", "0"},
		{"1.235", "1.24"},
		{"1e2", "100"},
		{"1.999e1", "19.99"},
		{"-5.5", "-5.5"},
		{"0", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var m Money
			if err := json.Unmarshal([]byte(tt.in), &m); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(m)
			if string(got) != tt.want {
				t.Errorf("Money(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestMoneyArithmeticIsExact(t *testing.T) {
	p, _ := ParseMoney("19.99")
	if got := p.Mul(3).String(); got != "59.97" {
		t.Errorf("3 × 19.99 = %s, want 59.97", got)
	}
	a, _ := ParseMoney("9.99")
	if got := a.Add(p).String(); got != "29.98" {
		t.Errorf("9.99 + 19.99 = %s, want 29.98", got)
	}
}

func TestMoneyRejectsNonNumbers(t *testing.T) {
	for _, in := range []string{`"19.99"`, `true`, `{}`, `[]`, `1e400`} {
		var m Money
		if err := json.Unmarshal([]byte(in), &m); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want error", in, m)
		}
	}
}
