package render

import (
	"fmt"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// currencyOf returns the currency a request's amounts are in: its own
// "currency" member when given, else the shop's (Renderer.Currency), and
// that currency's ISO 4217 minor units. ok is false when there is none:
// amounts then keep cents, as they always did.
func (rd Renderer) currencyOf(req *string) (code string, digits int, ok bool, err error) {
	code = rd.Currency
	if req != nil {
		code = *req
		if code == "" {
			return "", 0, false, apperr.FieldErrorf("currency", "must be an ISO 4217 code such as USD, or left out")
		}
	}
	if code == "" {
		return "", 0, false, nil
	}
	digits, known := shop.CurrencyDigits(code)
	if !known {
		return "", 0, false, apperr.FieldErrorf("currency", "%q is not an ISO 4217 currency code such as USD", code)
	}
	return code, digits, true, nil
}

// scaleAmount refuses m when it has more decimals than the currency's
// minor units allow, else returns it written with exactly those.
func scaleAmount(m shop.Money, code string, digits int, field string) (shop.Money, error) {
	if !m.IsSet() {
		return m, nil
	}
	if m.Places() > digits {
		return m, apperr.FieldErrorf(field, "has more decimals than %s's %d", code, digits)
	}
	return m.In(digits), nil
}

// scaleProduct scales p's price and compare_at_price in place; field is
// p's JSON path.
func scaleProduct(p *shop.Product, code string, digits int, field string) error {
	var err error
	if p.Price, err = scaleAmount(p.Price, code, digits, field+".price"); err != nil {
		return err
	}
	p.CompareAtPrice, err = scaleAmount(p.CompareAtPrice, code, digits, field+".compare_at_price")
	return err
}

// scaleCart returns a copy of c whose lines' prices are scaled (the
// caller's lines are never modified).
func scaleCart(c shop.Cart, code string, digits int, field string) (shop.Cart, error) {
	items := make([]shop.LineItem, len(c.Items))
	copy(items, c.Items)
	c.Items = items
	for i := range c.Items {
		if err := scaleProduct(&c.Items[i].Product, code, digits, fmt.Sprintf("%s.items[%d].product", field, i)); err != nil {
			return c, err
		}
	}
	return c, nil
}
