// Package orders turns storefront orders and their later actions
// (fulfilment, cancellation, refund) into the Klaviyo events a first-class
// integration sends: Placed Order, one Ordered Product per line, Fulfilled
// Order, Cancelled Order and Refunded Order. It also keeps orders in the
// shared database so that an action can name an order posted earlier, and
// hands events to a Publisher, which app fills with the outbox (a 202 means
// the events are committed there). It imports shop, klaviyo, db,
// strictjson and apperr.
package orders

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/shop"
)

// Metric names, as Klaviyo's built-in dashboards and CLV expect them.
const (
	MetricPlacedOrder    = "Placed Order"
	MetricOrderedProduct = "Ordered Product"
	MetricFulfilledOrder = "Fulfilled Order"
	MetricCancelledOrder = "Cancelled Order"
	MetricRefundedOrder  = "Refunded Order"
)

// Kind is a post-purchase action.
type Kind string

// The actions an order can go through after it was placed.
const (
	Fulfilled Kind = "fulfilled"
	Cancelled Kind = "cancelled"
	Refunded  Kind = "refunded"
)

// Metric returns the metric name of the action's event.
func (k Kind) Metric() string {
	switch k {
	case Fulfilled:
		return MetricFulfilledOrder
	case Cancelled:
		return MetricCancelledOrder
	case Refunded:
		return MetricRefundedOrder
	}
	return ""
}

// ParseKind parses "fulfilled", "cancelled" or "refunded".
func ParseKind(s string) (Kind, bool) {
	k := Kind(s)
	return k, k.Metric() != ""
}

// Action is the body of POST /v1/orders/{id}/fulfilled|cancelled|refunded.
type Action struct {
	// ID is the platform's id of this refund, cancellation or shipment.
	// It lets an order have several actions of a kind (split shipments,
	// several partial refunds); without it an order takes one of each.
	ID string `json:"id,omitempty"`
	// Time is when the action happened (default: when it is received).
	Time time.Time `json:"time,omitzero"`
	// Reason is why the order was cancelled or refunded.
	Reason string `json:"reason,omitempty"`
	// Items are the affected lines for a partial action; empty means the
	// whole order.
	Items []ActionItem `json:"items,omitempty"`
	// Amount overrides the event's value (a refund that differs from the
	// items' value, say); default the affected rows' total, or the order
	// total for a whole-order action.
	Amount shop.Money `json:"amount,omitzero"`
	// Tracking describes a shipment (fulfilments).
	Tracking *Tracking `json:"tracking,omitempty"`
	// Order is the full order, for orders snippetd was never told about;
	// otherwise the order stored by POST /v1/orders is used.
	Order *shop.Order `json:"order,omitempty"`
}

// ActionItem names an affected line by product id and quantity (default:
// the whole line).
type ActionItem struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity,omitempty"`
}

// Tracking is a shipment's tracking details.
type Tracking struct {
	Number  string `json:"number,omitempty"`
	URL     string `json:"url,omitempty"`
	Carrier string `json:"carrier,omitempty"`
}

// itemProps is one line as Klaviyo's order events describe it.
type itemProps struct {
	ProductID   string     `json:"ProductID"`
	SKU         string     `json:"SKU,omitempty"`
	ProductName string     `json:"ProductName"`
	Quantity    int64      `json:"Quantity"`
	ItemPrice   shop.Money `json:"ItemPrice"`
	RowTotal    shop.Money `json:"RowTotal"`
	ProductURL  string     `json:"ProductURL,omitempty"`
	ImageURL    string     `json:"ImageURL,omitempty"`
	Categories  []string   `json:"Categories"`
	Brand       string     `json:"Brand,omitempty"`
}

// addressProps is an address in the seed guide's casing.
type addressProps struct {
	FirstName   string `json:"FirstName,omitempty"`
	LastName    string `json:"LastName,omitempty"`
	Company     string `json:"Company,omitempty"`
	Address1    string `json:"Address1,omitempty"`
	Address2    string `json:"Address2,omitempty"`
	City        string `json:"City,omitempty"`
	Region      string `json:"Region,omitempty"`
	RegionCode  string `json:"RegionCode,omitempty"`
	Country     string `json:"Country,omitempty"`
	CountryCode string `json:"CountryCode,omitempty"`
	Zip         string `json:"Zip,omitempty"`
	Phone       string `json:"Phone,omitempty"`
}

// orderProps are the properties of Placed, Fulfilled, Cancelled and
// Refunded Order: one shape, so flows and segments can use the same
// filters on all four.
type orderProps struct {
	OrderId         string        `json:"OrderId"`
	Categories      []string      `json:"Categories"`
	ItemNames       []string      `json:"ItemNames"`
	Brands          []string      `json:"Brands"`
	DiscountCode    string        `json:"DiscountCode,omitempty"`
	DiscountValue   shop.Money    `json:"DiscountValue,omitzero"`
	Subtotal        shop.Money    `json:"Subtotal,omitzero"`
	Shipping        shop.Money    `json:"Shipping,omitzero"`
	Tax             shop.Money    `json:"Tax,omitzero"`
	Items           []itemProps   `json:"Items"`
	BillingAddress  *addressProps `json:"BillingAddress,omitempty"`
	ShippingAddress *addressProps `json:"ShippingAddress,omitempty"`
	// Action-only properties.
	Reason          string `json:"Reason,omitempty"`
	PartialAction   bool   `json:"Partial,omitempty"`
	TrackingNumber  string `json:"TrackingNumber,omitempty"`
	TrackingURL     string `json:"TrackingURL,omitempty"`
	TrackingCarrier string `json:"TrackingCarrier,omitempty"`
}

// orderedProductProps are the properties of one Ordered Product event.
type orderedProductProps struct {
	OrderId      string     `json:"OrderId"`
	ProductID    string     `json:"ProductID"`
	SKU          string     `json:"SKU,omitempty"`
	ProductName  string     `json:"ProductName"`
	Quantity     int64      `json:"Quantity"`
	ItemPrice    shop.Money `json:"ItemPrice"`
	RowTotal     shop.Money `json:"RowTotal"`
	ProductURL   string     `json:"ProductURL,omitempty"`
	ImageURL     string     `json:"ImageURL,omitempty"`
	Categories   []string   `json:"Categories"`
	ProductBrand string     `json:"ProductBrand,omitempty"`
}

func address(a *shop.Address) *addressProps {
	if a == nil {
		return nil
	}
	return &addressProps{a.FirstName, a.LastName, a.Company, a.Address1, a.Address2, a.City, a.Region,
		a.RegionCode, a.Country, a.CountryCode, a.Zip, a.Phone}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func item(l shop.LineItem) itemProps {
	p := l.Product
	return itemProps{ProductID: p.ID, SKU: p.SKU, ProductName: p.Name, Quantity: l.Quantity, ItemPrice: p.Price,
		RowTotal: l.RowTotal(), ProductURL: p.URL, ImageURL: p.ImageURL, Categories: nonNil(p.Categories), Brand: p.Brand}
}

// Profile returns the Klaviyo profile of the order's customer: its
// identifiers and names, its custom properties, and its location: the
// customer's location when given, else one from the customer's address,
// else the billing address, else the shipping address.
func Profile(o shop.Order) klaviyo.Profile {
	c := o.Customer
	p := klaviyo.Profile{Email: c.Email, PhoneNumber: c.PhoneNumber, ExternalID: c.ExternalID, FirstName: c.FirstName, LastName: c.LastName}
	a := c.Address
	if a == nil {
		a = o.BillingAddress
	}
	if a == nil {
		a = o.ShippingAddress
	}
	if a != nil {
		if p.FirstName == "" && p.LastName == "" {
			p.FirstName, p.LastName = a.FirstName, a.LastName
		}
		loc := klaviyo.Location{Address1: a.Address1, Address2: a.Address2, City: a.City, Region: a.Region, Country: a.Country, Zip: a.Zip}
		if loc.Region == "" {
			loc.Region = a.RegionCode
		}
		if loc.Country == "" {
			loc.Country = a.CountryCode
		}
		if loc != (klaviyo.Location{}) {
			p.Location = &loc
		}
	}
	if l := c.Location; l != nil && !l.IsZero() {
		p.Location = &klaviyo.Location{Address1: l.Address1, Address2: l.Address2, City: l.City, Region: l.Region, Country: l.Country, Zip: l.Zip}
	}
	p.Properties = compactProperties(c.Properties)
	return p
}

// compactProperties returns a customer's custom properties (validated
// with the order) as compact JSON, nil when there are none.
func compactProperties(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if len(raw) == 0 || json.Compact(&b, raw) != nil || b.String() == "{}" || b.String() == "null" {
		return nil
	}
	return b.Bytes()
}

// props builds the shared order properties from lines (all of them, or the
// affected ones).
func props(o shop.Order, lines []shop.LineItem) orderProps {
	p := orderProps{OrderId: o.ID, Categories: []string{}, ItemNames: []string{}, Brands: []string{},
		DiscountCode: o.DiscountCode, DiscountValue: o.DiscountValue, Subtotal: o.Subtotal, Shipping: o.Shipping, Tax: o.Tax,
		BillingAddress: address(o.BillingAddress), ShippingAddress: address(o.ShippingAddress)}
	seenCat, seenBrand := map[string]bool{}, map[string]bool{}
	for _, l := range lines {
		p.Items = append(p.Items, item(l))
		p.ItemNames = append(p.ItemNames, l.Product.Name)
		for _, c := range l.Product.Categories {
			if !seenCat[c] {
				seenCat[c] = true
				p.Categories = append(p.Categories, c)
			}
		}
		if b := l.Product.Brand; b != "" && !seenBrand[b] {
			seenBrand[b] = true
			p.Brands = append(p.Brands, b)
		}
	}
	if p.Items == nil {
		p.Items = []itemProps{}
	}
	return p
}

func encode(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value here is plain strings, ints and Money: cannot fail.
		panic(fmt.Sprintf("orders: encode properties: %v", err))
	}
	return b
}

// LineUniqueID is the unique_id of the Ordered Product event of line i of
// order id: "<order id>:<line index>". The seed guide reuses the order id,
// but Klaviyo keeps only the first event per (profile, metric, unique_id),
// so every line after the first would be dropped. The product id is not
// used because one order can hold the same product on two lines (sizes,
// engravings); the index is unique within the order and stable because the
// order is stored as first posted.
func LineUniqueID(orderID string, i int) string { return orderID + ":" + strconv.Itoa(i) }

// PlacedEvents returns the events of a newly placed order: Placed Order
// (value = order total, unique_id = order id, time = placed_at) and one
// Ordered Product per line (value = row total, unique_id from
// LineUniqueID). backfill marks historical orders so no flow fires.
func PlacedEvents(o shop.Order, backfill bool) []klaviyo.Event {
	prof := Profile(o)
	evs := []klaviyo.Event{{
		Metric: MetricPlacedOrder, Profile: prof, Properties: encode(props(o, o.Items)),
		Time: o.PlacedAt, Value: o.OrderTotal(), ValueCurrency: o.Currency, UniqueID: o.ID, Backfill: backfill,
	}}
	for i, l := range o.Items {
		p := l.Product
		evs = append(evs, klaviyo.Event{
			Metric: MetricOrderedProduct, Profile: prof,
			Properties: encode(orderedProductProps{OrderId: o.ID, ProductID: p.ID, SKU: p.SKU, ProductName: p.Name,
				Quantity: l.Quantity, ItemPrice: p.Price, RowTotal: l.RowTotal(), ProductURL: p.URL, ImageURL: p.ImageURL,
				Categories: nonNil(p.Categories), ProductBrand: p.Brand}),
			Time: o.PlacedAt, Value: l.RowTotal(), ValueCurrency: o.Currency, UniqueID: LineUniqueID(o.ID, i), Backfill: backfill,
		})
	}
	return evs
}

// ValidateAction checks an action against its order; field names are JSON
// paths of the action body, such as "items[1].quantity".
func ValidateAction(k Kind, a Action, o shop.Order) error {
	if !a.Time.IsZero() && a.Time.Before(o.PlacedAt) {
		return apperr.FieldErrorf("time", "is before the order was placed (%s)", o.PlacedAt.Format(time.RFC3339))
	}
	if a.Amount.IsSet() && a.Amount.Cmp(shop.Cents(0)) < 0 {
		return apperr.FieldErrorf("amount", "must not be negative")
	}
	if a.Amount.IsSet() && k != Fulfilled && a.Amount.Cmp(o.OrderTotal()) > 0 {
		return apperr.FieldErrorf("amount", "%s is more than order %s's total %s", a.Amount, o.ID, o.OrderTotal())
	}
	if a.Tracking != nil && k != Fulfilled {
		return apperr.FieldErrorf("tracking", "applies to fulfilments only")
	}
	if utf8.RuneCountInString(strings.TrimSpace(a.Reason)) > 1000 {
		return apperr.FieldErrorf("reason", "must be at most 1000 characters")
	}
	_, err := affected(a, o)
	return err
}

// affected returns the lines an action touches with the affected
// quantities: every line when Items is empty, else the named ones. A
// product named twice, or on two lines, takes quantities from its lines in
// order.
func affected(a Action, o shop.Order) ([]shop.LineItem, error) {
	if len(a.Items) == 0 {
		return o.Items, nil
	}
	left := make([]int64, len(o.Items))
	for i, l := range o.Items {
		left[i] = l.Quantity
	}
	taken := make([]int64, len(o.Items))
	for j, it := range a.Items {
		field := fmt.Sprintf("items[%d]", j)
		if strings.TrimSpace(it.ProductID) == "" {
			return nil, apperr.FieldErrorf(field+".product_id", "is required")
		}
		if it.Quantity < 0 {
			return nil, apperr.FieldErrorf(field+".quantity", "must not be negative")
		}
		want, found := it.Quantity, false
		for i, l := range o.Items {
			if l.Product.ID != it.ProductID || left[i] == 0 {
				continue
			}
			found = true
			q := left[i]
			if want > 0 {
				q = min(want, left[i])
			}
			left[i] -= q
			taken[i] += q
			if want > 0 {
				want -= q
				if want == 0 {
					break
				}
			} else {
				break
			}
		}
		switch {
		case !found:
			return nil, apperr.FieldErrorf(field+".product_id", "%q is not a line of order %s (or is used up)", it.ProductID, o.ID)
		case want > 0:
			return nil, apperr.FieldErrorf(field+".quantity", "exceeds what order %s holds of %q", o.ID, it.ProductID)
		}
	}
	var out []shop.LineItem
	for i, l := range o.Items {
		if taken[i] > 0 {
			l.Quantity = taken[i]
			out = append(out, l)
		}
	}
	return out, nil
}

// ActionEvent returns the event of an action on order o: the order's
// property shape with only the affected items, unique_id = the order id
// (so Klaviyo ties Cancelled and Refunded Order to the Placed Order for
// CLV), time = the action's time (now when absent), Reason, tracking, and
// value = Amount, else the affected rows' total for a partial action, else
// the order total. Call ValidateAction first.
func ActionEvent(k Kind, a Action, o shop.Order, now time.Time) (klaviyo.Event, error) {
	lines, err := affected(a, o)
	if err != nil {
		return klaviyo.Event{}, err
	}
	p := props(o, lines)
	p.Reason = strings.TrimSpace(a.Reason)
	p.PartialAction = len(a.Items) > 0
	if a.Tracking != nil {
		p.TrackingNumber, p.TrackingURL, p.TrackingCarrier = a.Tracking.Number, a.Tracking.URL, a.Tracking.Carrier
	}
	value := o.OrderTotal()
	if p.PartialAction {
		value = shop.Cents(0)
		for _, l := range lines {
			value = value.Add(l.RowTotal())
		}
		// A discount, shipping and tax apply to the whole order; a partial
		// action's value is its rows' total, so they are left out of its
		// props.
		p.DiscountCode, p.DiscountValue = "", shop.Money{}
		p.Subtotal, p.Shipping, p.Tax = shop.Money{}, shop.Money{}, shop.Money{}
	}
	if a.Amount.IsSet() {
		value = a.Amount
	}
	t := a.Time
	if t.IsZero() {
		t = now
	}
	return klaviyo.Event{Metric: k.Metric(), Profile: Profile(o), Properties: encode(p), Time: t, Value: value,
		ValueCurrency: o.Currency, UniqueID: o.ID}, nil
}

// ActionUniqueID is the unique_id of a further action of kind k on order
// orderID with the platform's actionID: the first action of a kind keeps
// the order id (the seed's rule, which ties Cancelled and Refunded Order
// to the Placed Order for CLV), and Klaviyo would drop any later event
// with that same id, so each further one gets its own, stable across
// retries because the action id is.
func ActionUniqueID(orderID string, k Kind, actionID string) string {
	return orderID + ":" + string(k) + ":" + actionID
}

// UniqueIDs lists the unique ids of events, for the API's answer.
func UniqueIDs(evs []klaviyo.Event) []string {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.UniqueID
	}
	return ids
}
