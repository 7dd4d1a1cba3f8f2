package shop_test

import (
	"errors"
	"testing"

	"github.com/snippetd/snippetd/shop"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		raw, country, want string
		err                error
	}{
		{"5551234567", "US", "+15551234567", nil},
		{"(555) 123-4567", "us", "+15551234567", nil},
		{"+1 555 123 4567", "", "+15551234567", nil},
		{"+44 20 7946 0958", "US", "+442079460958", nil}, // international wins over the country
		{"020 7946 0958", "GB", "+442079460958", nil},
		{"030 123456", "DE", "+4930123456", nil},
		{"5551234567", "", "", shop.ErrPhoneNoCountry},
		{"5551234567", "USA", "", shop.ErrPhoneNoCountry},
		{"5551234567", "ZZ", "", shop.ErrPhoneNoCountry},
		{"12", "US", "", shop.ErrPhoneInvalid},
		{"not a phone", "US", "", shop.ErrPhoneInvalid},
		{"+1 555 123 4567 8901 2345", "", "", shop.ErrPhoneInvalid},
		{"  ", "US", "", shop.ErrPhoneInvalid},
	}
	for _, tt := range tests {
		got, err := shop.NormalizePhone(tt.raw, tt.country)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v; want %q, %v", tt.raw, tt.country, got, err, tt.want, tt.err)
		}
		if err == nil && !shop.IsE164(got) {
			t.Errorf("NormalizePhone(%q) = %q is not E.164", tt.raw, got)
		}
	}
}

func TestIsE164(t *testing.T) {
	for s, want := range map[string]bool{"+15551234567": true, "+4930123456": true, "5551234567": false, "+1 555": false,
		"+05551234567": false, "+1234567890123456": false, "+": false, "": false} {
		if shop.IsE164(s) != want {
			t.Errorf("IsE164(%q) = %v", s, !want)
		}
	}
}
