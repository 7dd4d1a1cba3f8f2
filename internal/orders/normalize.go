package orders

import (
	"fmt"
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
func Prepare(o shop.Order, d Defaults, field string) (_ shop.Order, dropped []string, err error) {
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
	o, err = inCurrency(o, pre)
	return o, dropped, err
}

// phoneAt returns the phone number of o at the JSON path Prepare listed
// as dropped (field is the order's prefix, as given to Prepare).
func phoneAt(o shop.Order, path, field string) string {
	if field != "" {
		path = strings.TrimPrefix(path, field+".")
	}
	addr := func(a *shop.Address) string {
		if a == nil {
			return ""
		}
		return a.Phone
	}
	switch path {
	case "customer.phone_number":
		return o.Customer.PhoneNumber
	case "customer.address.phone":
		return addr(o.Customer.Address)
	case "billing_address.phone":
		return addr(o.BillingAddress)
	case "shipping_address.phone":
		return addr(o.ShippingAddress)
	}
	return ""
}

// inCurrency checks that no amount of o has more decimals than its
// currency's minor units (ISO 4217: 0 for JPY, 3 for KWD) and scales every
// amount to them, so that sums and the events carry them exactly. An
// order without a currency keeps cents, as it always did.
func inCurrency(o shop.Order, pre string) (shop.Order, error) {
	if o.Currency == "" {
		return o, nil
	}
	d, ok := shop.CurrencyDigits(o.Currency)
	if !ok {
		return o, apperr.FieldErrorf(pre+"currency", "%q is not an ISO 4217 currency code such as USD", o.Currency)
	}
	var err error
	scale := func(m *shop.Money, field string) {
		if err != nil || !m.IsSet() {
			return
		}
		*m, err = scaleAmount(*m, o.Currency, d, pre+field)
	}
	items := make([]shop.LineItem, len(o.Items))
	copy(items, o.Items) // never modify the caller's lines
	o.Items = items
	for i := range o.Items {
		scale(&o.Items[i].Product.Price, fmt.Sprintf("items[%d].product.price", i))
		scale(&o.Items[i].Product.CompareAtPrice, fmt.Sprintf("items[%d].product.compare_at_price", i))
	}
	scale(&o.DiscountValue, "discount_value")
	scale(&o.Subtotal, "subtotal")
	scale(&o.Shipping, "shipping")
	scale(&o.Tax, "tax")
	scale(&o.Total, "total")
	return o, err
}

// scaleAmount refuses m when it has more decimals than currency's digits,
// else returns it scaled to them.
func scaleAmount(m shop.Money, currency string, digits int, field string) (shop.Money, error) {
	if m.Places() > digits {
		return m, apperr.FieldErrorf(field, "has %s decimals; %s has %d", placesText(m.Places()), currency, digits)
	}
	return m.In(digits), nil
}

func placesText(n int) string {
	if n > 4 {
		return "more than 4"
	}
	return fmt.Sprint(n)
}

// scaleAction scales an action's amount to its order's currency.
func scaleAction(a Action, o shop.Order) (Action, error) {
	if o.Currency == "" || !a.Amount.IsSet() {
		return a, nil
	}
	d, _ := shop.CurrencyDigits(o.Currency)
	var err error
	a.Amount, err = scaleAmount(a.Amount, o.Currency, d, "amount")
	return a, err
}
