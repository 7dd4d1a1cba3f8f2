package orders

import (
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// Defaults are the shop-wide settings an order falls back on where it says
// nothing itself.
type Defaults struct {
	// Country (ISO 3166-1 alpha-2, SNIPPETD_DEFAULT_COUNTRY) reads national
	// phone numbers of orders without an address country; empty: such a
	// number is not guessed, it is dropped.
	Country string
	// Location (SNIPPETD_DEFAULT_TIMEZONE) reads times written without a
	// zone; nil is UTC.
	Location *time.Location
	// Currency (SNIPPETD_CURRENCY) is the currency of orders that name
	// none; empty leaves it to Klaviyo's account default.
	Currency string
}

func (d Defaults) location() *time.Location {
	if d.Location == nil {
		return time.UTC
	}
	return d.Location
}

// countryOf is the ISO alpha-2 country of an address: country_code, else a
// two-letter country.
func countryOf(a *shop.Address) string {
	if a == nil {
		return ""
	}
	if c := strings.TrimSpace(a.CountryCode); c != "" {
		return c
	}
	if c := strings.TrimSpace(a.Country); len(c) == 2 {
		return c
	}
	return ""
}

// Prepare readies a decoded order for validation and events: the default
// currency when it names none, and every phone number in E.164 form,
// national ones read in the order's address country (the customer's
// address, else billing, else shipping), else in d.Country. A number that
// cannot be normalised is removed (Klaviyo would refuse the whole event for
// it) and its field path listed in dropped; field is the order's JSON path
// prefix ("" or "order"). When the customer's phone was its only
// identifier the order is refused (422 naming the field).
func Prepare(o shop.Order, d Defaults, field string) (out shop.Order, dropped []string, err error) {
	pre := field
	if pre != "" {
		pre += "."
	}
	if o.Currency == "" {
		o.Currency = d.Currency
	}
	country := countryOf(o.Customer.Address)
	if country == "" {
		country = countryOf(o.BillingAddress)
	}
	if country == "" {
		country = countryOf(o.ShippingAddress)
	}
	if country == "" {
		country = d.Country
	}
	var phoneErr error
	if p := o.Customer.PhoneNumber; p != "" {
		if o.Customer.PhoneNumber, phoneErr = shop.NormalizePhone(p, country); phoneErr != nil {
			dropped = append(dropped, pre+"customer.phone_number")
		}
	}
	for _, a := range []struct {
		field string
		addr  **shop.Address
	}{{"customer.address", &o.Customer.Address}, {"billing_address", &o.BillingAddress}, {"shipping_address", &o.ShippingAddress}} {
		if *a.addr == nil || (*a.addr).Phone == "" {
			continue
		}
		c := *(*a.addr) // never modify the caller's address
		own := countryOf(&c)
		if own == "" {
			own = country
		}
		var err error
		if c.Phone, err = shop.NormalizePhone(c.Phone, own); err != nil {
			dropped = append(dropped, pre+a.field+".phone")
		}
		*a.addr = &c
	}
	if phoneErr != nil && strings.TrimSpace(o.Customer.Email) == "" && strings.TrimSpace(o.Customer.ExternalID) == "" {
		return o, dropped, apperr.FieldErrorf(pre+"customer.phone_number",
			"%s; it is the customer's only identifier, so the order cannot be sent", phoneErr)
	}
	return o, dropped, nil
}
