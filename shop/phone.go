package shop

import (
	"errors"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrPhoneNoCountry is returned by NormalizePhone for a national number
// (no leading + or international prefix) when no country is known to read
// it in: snippetd does not guess one.
var ErrPhoneNoCountry = errors.New("is a national number and no country is known to read it in (give the address's country_code, write it as +<country code><number>, or set SNIPPETD_DEFAULT_COUNTRY)")

// ErrPhoneInvalid is returned by NormalizePhone for text that is not a
// phone number of a possible length for its country.
var ErrPhoneInvalid = errors.New("is not a phone number of a possible length for its country")

// NormalizePhone returns raw in E.164 form ("+15551234567"), the only form
// Klaviyo accepts for a profile's phone_number. A number written
// internationally (+44 20 7946 0958) carries its own country; a national
// one (020 7946 0958) is read in country, an ISO 3166-1 alpha-2 code such
// as "GB" (case-insensitive), and without one it is ErrPhoneNoCountry. The
// check is libphonenumber's "possible number" (country code and length),
// not "valid number": range tables change more often than snippetd's
// dependency, and a reserved range such as 555 is still well-formed.
// Storefronts call this before filling Customer.PhoneNumber.
func NormalizePhone(raw, country string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", ErrPhoneInvalid
	}
	region := strings.ToUpper(strings.TrimSpace(country))
	if len(region) != 2 {
		region = ""
	}
	international := strings.HasPrefix(raw, "+")
	if !international && region == "" {
		return "", ErrPhoneNoCountry
	}
	if !international {
		if phonenumbers.GetCountryCodeForRegion(region) == 0 {
			return "", ErrPhoneNoCountry
		}
	}
	n, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return "", ErrPhoneInvalid
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// IsE164 reports whether s has E.164's form: "+", then 2 to 15 digits
// (country code and subscriber number), the first not 0.
func IsE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// PhoneCountry reports whether country is an ISO 3166-1 alpha-2 code
// NormalizePhone can read national numbers in.
func PhoneCountry(country string) bool {
	return len(country) == 2 && phonenumbers.GetCountryCodeForRegion(strings.ToUpper(country)) != 0
}
