package shop

import (
	"fmt"
	"strings"
)

// Validate checks a product used by a snippet or an order. field is the JSON
// path of p in the request, such as "cart.items[0].product".
func (p Product) Validate(field string) error {
	switch {
	case strings.TrimSpace(p.ID) == "":
		return fieldErrorf(field+".id", "is required")
	case strings.TrimSpace(p.Name) == "":
		return fieldErrorf(field+".name", "is required")
	case !p.Price.IsSet():
		return fieldErrorf(field+".price", "is required")
	case p.Price.Cents() < 0:
		return fieldErrorf(field+".price", "must not be negative")
	case p.CompareAtPrice.IsSet() && p.CompareAtPrice.Cents() < 0:
		return fieldErrorf(field+".compare_at_price", "must not be negative")
	}
	return nil
}

// Validate checks a line item; field is its JSON path.
func (l LineItem) Validate(field string) error {
	if err := l.Product.Validate(field + ".product"); err != nil {
		return err
	}
	if l.Quantity < 1 {
		return fieldErrorf(field+".quantity", "must be at least 1")
	}
	if l.Quantity > 1_000_000 {
		return fieldErrorf(field+".quantity", "must be at most 1000000")
	}
	return nil
}

// Validate checks a cart: an id and at least one valid line.
func (c Cart) Validate(field string) error {
	if strings.TrimSpace(c.ID) == "" {
		return fieldErrorf(field+".id", "is required")
	}
	if len(c.Items) == 0 {
		return fieldErrorf(field+".items", "must hold at least one line")
	}
	for i, l := range c.Items {
		// Check first and build the field path only for a bad line: the
		// render path validates every cart and fmt.Sprintf per line was a
		// measurable part of it.
		if l.Validate("") != nil {
			return l.Validate(fmt.Sprintf("%s.items[%d]", field, i))
		}
	}
	return nil
}

// Validate checks that the customer carries at least one identifier.
func (c Customer) Validate(field string) error {
	if strings.TrimSpace(c.Email) == "" && strings.TrimSpace(c.PhoneNumber) == "" && strings.TrimSpace(c.ExternalID) == "" {
		return fieldErrorf(field, "needs at least one of email, phone_number, external_id")
	}
	if c.Email != "" && !strings.Contains(c.Email, "@") {
		return fieldErrorf(field+".email", "is not an email address")
	}
	if c.Location != nil {
		if err := c.Location.Validate(field + ".location"); err != nil {
			return err
		}
	}
	if _, err := ProfileProperties(c.Properties, field+".properties"); err != nil {
		return err
	}
	return nil
}

// Validate checks an order: id, placed_at, a customer with an identifier and
// at least one valid line.
func (o Order) Validate(field string) error {
	pre := field
	if pre != "" {
		pre += "."
	}
	switch {
	case strings.TrimSpace(o.ID) == "":
		return fieldErrorf(pre+"id", "is required")
	case o.PlacedAt.IsZero():
		return fieldErrorf(pre+"placed_at", "is required")
	case o.Currency != "" && !isCurrency(o.Currency):
		return fieldErrorf(pre+"currency", "must be an ISO 4217 code such as USD")
	case o.DiscountValue.IsSet() && o.DiscountValue.Cents() < 0:
		return fieldErrorf(pre+"discount_value", "must not be negative")
	case o.Total.IsSet() && o.Total.Cents() < 0:
		return fieldErrorf(pre+"total", "must not be negative")
	case o.Subtotal.IsSet() && o.Subtotal.Cents() < 0:
		return fieldErrorf(pre+"subtotal", "must not be negative")
	case o.Shipping.IsSet() && o.Shipping.Cents() < 0:
		return fieldErrorf(pre+"shipping", "must not be negative")
	case o.Tax.IsSet() && o.Tax.Cents() < 0:
		return fieldErrorf(pre+"tax", "must not be negative")
	}
	if err := o.Customer.Validate(pre + "customer"); err != nil {
		return err
	}
	if len(o.Items) == 0 {
		return fieldErrorf(pre+"items", "must hold at least one line")
	}
	for i, l := range o.Items {
		if l.Validate("") != nil {
			return l.Validate(fmt.Sprintf("%sitems[%d]", pre, i))
		}
	}
	if !o.Total.IsSet() && o.OrderTotal().Cents() < 0 {
		return fieldErrorf(pre+"discount_value", "is more than the rows plus shipping and tax (%s): give total", o.OrderTotal().Add(o.DiscountValue))
	}
	return nil
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
