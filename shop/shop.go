// Package shop holds the neutral storefront data snippetd works from:
// products, carts, customers, addresses and orders, with exact money
// (Money) and validation that names the offending field (FieldError). A Go
// storefront fills these types from its own models and hands them to
// package snippets or to snippetd's APIs, whose JSON they also describe.
// It does no I/O.
package shop

import (
	"encoding/json"
	"time"
)

// Product is one item of the storefront's catalog as the snippets and the
// catalog feed see it.
type Product struct {
	ID             string   `json:"id"`
	SKU            string   `json:"sku,omitempty"`
	Name           string   `json:"name"`
	URL            string   `json:"url,omitempty"`
	ImageURL       string   `json:"image_url,omitempty"`
	Categories     []string `json:"categories,omitempty"`
	Brand          string   `json:"brand,omitempty"`
	Price          Money    `json:"price,omitzero"`
	CompareAtPrice Money    `json:"compare_at_price,omitzero"`

	// Catalog-only fields (the feed and the Catalog API use them).
	Description       string `json:"description,omitempty"`
	InventoryQuantity *int64 `json:"inventory_quantity,omitempty"`
	// InventoryPolicy is Klaviyo's 1 (hide when out of stock) or 2 (always
	// show, Klaviyo's default when 0 here).
	InventoryPolicy int `json:"inventory_policy,omitempty"`
	// Variants are the product's variants, synced to Klaviyo's catalog
	// variants in API mode; the feed carries only their total stock.
	Variants []Variant `json:"variants,omitempty"`
}

// LineItem is a quantity of one product in a cart or an order.
type LineItem struct {
	Product  Product `json:"product"`
	Quantity int64   `json:"quantity"`
}

// RowTotal is the line's price times its quantity.
func (l LineItem) RowTotal() Money { return l.Product.Price.Mul(l.Quantity) }

// Cart is a shopper's cart.
type Cart struct {
	ID          string     `json:"id"`
	CheckoutURL string     `json:"checkout_url,omitempty"`
	Items       []LineItem `json:"items"`
}

// Total is the sum of the row totals.
func (c Cart) Total() Money {
	t := Cents(0)
	for _, l := range c.Items {
		t = t.Add(l.RowTotal())
	}
	return t
}

// Customer identifies a shopper. At least one of Email, PhoneNumber and
// ExternalID is required.
type Customer struct {
	Email       string   `json:"email,omitempty"`
	PhoneNumber string   `json:"phone_number,omitempty"`
	ExternalID  string   `json:"external_id,omitempty"`
	FirstName   string   `json:"first_name,omitempty"`
	LastName    string   `json:"last_name,omitempty"`
	Address     *Address `json:"address,omitempty"`
	// Location is the profile's location as Klaviyo keeps it (city,
	// region, country, zip, address1/2).
	Location *Location `json:"location,omitempty"`
	// Properties is a flat JSON object of custom profile properties
	// (ProfileProperties has the rules).
	Properties json.RawMessage `json:"properties,omitempty"`
}

// Address is a postal address of a customer or an order.
type Address struct {
	FirstName   string `json:"first_name,omitempty"`
	LastName    string `json:"last_name,omitempty"`
	Company     string `json:"company,omitempty"`
	Address1    string `json:"address1,omitempty"`
	Address2    string `json:"address2,omitempty"`
	City        string `json:"city,omitempty"`
	Region      string `json:"region,omitempty"`
	RegionCode  string `json:"region_code,omitempty"`
	Country     string `json:"country,omitempty"`
	CountryCode string `json:"country_code,omitempty"`
	Zip         string `json:"zip,omitempty"`
	Phone       string `json:"phone,omitempty"`
}

// Order is a placed order.
type Order struct {
	ID            string     `json:"id"`
	PlacedAt      time.Time  `json:"placed_at"`
	Currency      string     `json:"currency,omitempty"`
	Customer      Customer   `json:"customer"`
	Items         []LineItem `json:"items"`
	DiscountCode  string     `json:"discount_code,omitempty"`
	DiscountValue Money      `json:"discount_value,omitzero"`
	// Subtotal, Shipping and Tax are the order's amounts as the shop
	// computed them; Shipping and Tax count towards OrderTotal, Subtotal is
	// carried as given.
	Subtotal        Money    `json:"subtotal,omitzero"`
	Shipping        Money    `json:"shipping,omitzero"`
	Tax             Money    `json:"tax,omitzero"`
	Total           Money    `json:"total,omitzero"`
	BillingAddress  *Address `json:"billing_address,omitempty"`
	ShippingAddress *Address `json:"shipping_address,omitempty"`
}

// OrderTotal is Total when given, else the sum of the row totals minus
// DiscountValue plus Shipping and Tax (absent amounts count as 0), exact.
func (o Order) OrderTotal() Money {
	if o.Total.IsSet() {
		return o.Total
	}
	t := Cents(0)
	for _, l := range o.Items {
		t = t.Add(l.RowTotal())
	}
	return t.Sub(o.DiscountValue).Add(o.Shipping).Add(o.Tax)
}
