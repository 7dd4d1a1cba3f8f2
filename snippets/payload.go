package snippets

import (
	"strconv"
	"time"

	"github.com/snippetd/snippetd/internal/jsonw"

	"github.com/snippetd/snippetd/shop"
)

// Push is one array that a partial pushes onto the klaviyo queue, such as
// ["track","Viewed Product",{...}], encoded as JSON whose keys are in the
// order Klaviyo's guide shows and whose strings are safe inside a <script>
// element. It is its own JSON encoding, so a []Push marshals to the
// "pushes" array of the render API without being re-encoded.
type Push []byte

// MarshalJSON returns p itself: p is already JSON.
func (p Push) MarshalJSON() ([]byte, error) { return p, nil }

// String returns the JSON text of p.
func (p Push) String() string { return string(p) }

// The request field names that validation errors name. They match the JSON
// bodies of the render API, so an error from a builder can be shown to a
// client as it is.
const (
	fieldProduct  = "product"
	fieldCart     = "cart"
	fieldAdded    = "added"
	fieldTime     = "time"
	fieldCustomer = "customer"
)

// ViewedProductEvent builds the Viewed Product event of a product page. p must
// validate (id, name and a price that is not negative); errors name the
// field as "product.<name>".
func ViewedProductEvent(p shop.Product) (Event, error) {
	if err := p.Validate(fieldProduct); err != nil {
		return Event{}, err
	}
	return Event{Metric: "Viewed Product", Properties: viewedProductProperties(make([]byte, 0, 128+productSize(p)), p)}, nil
}

// viewedProductProperties appends the properties of p's Viewed Product.
func viewedProductProperties(b []byte, p shop.Product) []byte {
	b = append(b, '{')
	b = field(b, "ProductName", true)
	b = jsonw.AppendString(b, p.Name)
	b = field(b, "ProductID", false)
	b = jsonw.AppendString(b, p.ID)
	if p.SKU != "" {
		b = field(b, "SKU", false)
		b = jsonw.AppendString(b, p.SKU)
	}
	if len(p.Categories) > 0 {
		b = field(b, "Categories", false)
		b = jsonw.AppendStrings(b, p.Categories)
	}
	if p.ImageURL != "" {
		b = field(b, "ImageURL", false)
		b = jsonw.AppendString(b, p.ImageURL)
	}
	if p.URL != "" {
		b = field(b, "URL", false)
		b = jsonw.AppendString(b, p.URL)
	}
	if p.Brand != "" {
		b = field(b, "Brand", false)
		b = jsonw.AppendString(b, p.Brand)
	}
	b = field(b, "Price", false)
	b = appendMoney(b, p.Price)
	if p.CompareAtPrice.IsSet() {
		b = field(b, "CompareAtPrice", false)
		b = appendMoney(b, p.CompareAtPrice)
	}
	return append(b, '}')
}

// ViewedProductPushes builds the two pushes of a product page:
// ["track","Viewed Product",{...}] (ViewedProductEvent's event) and
// ["trackViewedItem",{...}]. p must validate (id, name and a price that
// is not negative); errors name the field as "product.<name>".
func ViewedProductPushes(p shop.Product) ([]Push, error) {
	e, err := ViewedProductEvent(p)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 128+productSize(p))
	b = append(b, `["trackViewedItem",{`...)
	b = field(b, "Title", true)
	b = jsonw.AppendString(b, p.Name)
	b = field(b, "ItemId", false)
	b = jsonw.AppendString(b, p.ID)
	if len(p.Categories) > 0 {
		b = field(b, "Categories", false)
		b = jsonw.AppendStrings(b, p.Categories)
	}
	if p.ImageURL != "" {
		b = field(b, "ImageUrl", false)
		b = jsonw.AppendString(b, p.ImageURL)
	}
	if p.URL != "" {
		b = field(b, "Url", false)
		b = jsonw.AppendString(b, p.URL)
	}
	b = field(b, "Metadata", false)
	b = append(b, '{')
	first := true
	if p.Brand != "" {
		b = field(b, "Brand", first)
		b = jsonw.AppendString(b, p.Brand)
		first = false
	}
	b = field(b, "Price", first)
	b = appendMoney(b, p.Price)
	if p.CompareAtPrice.IsSet() {
		b = field(b, "CompareAtPrice", false)
		b = appendMoney(b, p.CompareAtPrice)
	}
	b = append(b, "}}]"...)
	return []Push{e.Push(), Push(b)}, nil
}

// ValidateAddedToCart checks an Added to Cart request: a valid cart and an
// added line that is valid and is one of the cart's lines (same product id
// and SKU, a quantity no larger than the cart line's). Errors name "cart..."
// or "added...".
func ValidateAddedToCart(c shop.Cart, added shop.LineItem) error {
	_, err := addedLine(c, added)
	return err
}

// addedLine validates and returns the index of the cart line added is.
func addedLine(c shop.Cart, added shop.LineItem) (int, error) {
	if err := c.Validate(fieldCart); err != nil {
		return -1, err
	}
	if err := added.Validate(fieldAdded); err != nil {
		return -1, err
	}
	for i, l := range c.Items {
		if l.Product.ID == added.Product.ID && l.Product.SKU == added.Product.SKU {
			if added.Quantity > l.Quantity {
				return -1, fieldErrorf(fieldAdded+".quantity", "is more than the quantity of the cart line (cart.items[%d])", i)
			}
			return i, nil
		}
	}
	return -1, fieldErrorf(fieldAdded, "is not a line of the cart (no cart item with product id %q and sku %q)", added.Product.ID, added.Product.SKU)
}

// AddedToCartEvent builds the Added to Cart event for the line added, which
// must already be in cart c. Its value is the cart total and
// AddedItemCategories the union of the categories of every cart line, the
// added item's first.
func AddedToCartEvent(c shop.Cart, added shop.LineItem) (Event, error) {
	idx, err := addedLine(c, added)
	if err != nil {
		return Event{}, err
	}
	b := make([]byte, 0, 512+cartSize(c))
	p := added.Product
	b = append(b, '{')
	b = field(b, "AddedItemProductName", true)
	b = jsonw.AppendString(b, p.Name)
	b = field(b, "AddedItemProductID", false)
	b = jsonw.AppendString(b, p.ID)
	if p.SKU != "" {
		b = field(b, "AddedItemSKU", false)
		b = jsonw.AppendString(b, p.SKU)
	}
	if cats := categoryUnion(c.Items, idx); len(cats) > 0 {
		b = field(b, "AddedItemCategories", false)
		b = jsonw.AppendStrings(b, cats)
	}
	if p.ImageURL != "" {
		b = field(b, "AddedItemImageURL", false)
		b = jsonw.AppendString(b, p.ImageURL)
	}
	if p.URL != "" {
		b = field(b, "AddedItemURL", false)
		b = jsonw.AppendString(b, p.URL)
	}
	b = field(b, "AddedItemPrice", false)
	b = appendMoney(b, p.Price)
	b = field(b, "AddedItemQuantity", false)
	b = strconv.AppendInt(b, added.Quantity, 10)
	b = appendCartTail(b, c, false)
	b = append(b, '}')
	return Event{Metric: "Added to Cart", Value: c.Total(), Properties: b}, nil
}

// AddedToCartPushes builds ["track","Added to Cart",{...}], AddedToCartEvent's
// event as a push.
func AddedToCartPushes(c shop.Cart, added shop.LineItem) ([]Push, error) {
	e, err := AddedToCartEvent(c, added)
	if err != nil {
		return nil, err
	}
	return []Push{e.Push()}, nil
}

// StartedCheckoutEvent builds the Started Checkout event for cart c at time at
// (the zero time means now). Its event id is "<cart id>_<unix seconds>",
// so a shopper who returns to checkout later starts a new checkout, and
// Categories is the union of the lines' categories in cart order.
func StartedCheckoutEvent(c shop.Cart, at time.Time) (Event, error) {
	if err := c.Validate(fieldCart); err != nil {
		return Event{}, err
	}
	if at.IsZero() {
		at = time.Now()
	}
	if at.Unix() < 0 {
		return Event{}, fieldErrorf(fieldTime, "must not be before 1970-01-01T00:00:00Z")
	}
	b := make([]byte, 0, 512+cartSize(c))
	b = append(b, '{')
	b = appendCartTail(b, c, true)
	b = append(b, '}')
	return Event{
		Metric:     "Started Checkout",
		EventID:    c.ID + "_" + strconv.FormatInt(at.Unix(), 10),
		Value:      c.Total(),
		Properties: b,
	}, nil
}

// StartedCheckoutPushes builds ["track","Started Checkout",{...}],
// StartedCheckoutEvent's event as a push.
func StartedCheckoutPushes(c shop.Cart, at time.Time) ([]Push, error) {
	e, err := StartedCheckoutEvent(c, at)
	if err != nil {
		return nil, err
	}
	return []Push{e.Push()}, nil
}

// appendCartTail appends ItemNames, CheckoutURL, Categories (when
// withCategories) and Items, the members both cart events share; ItemNames
// is the object's first member when b ends with '{'.
func appendCartTail(b []byte, c shop.Cart, withCategories bool) []byte {
	b = field(b, "ItemNames", b[len(b)-1] == '{')
	b = append(b, '[')
	for i, l := range c.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, l.Product.Name)
	}
	b = append(b, ']')
	if c.CheckoutURL != "" {
		b = field(b, "CheckoutURL", false)
		b = jsonw.AppendString(b, c.CheckoutURL)
	}
	if withCategories {
		if cats := categoryUnion(c.Items, -1); len(cats) > 0 {
			b = field(b, "Categories", false)
			b = jsonw.AppendStrings(b, cats)
		}
	}
	b = field(b, "Items", false)
	b = append(b, '[')
	for i, l := range c.Items {
		if i > 0 {
			b = append(b, ',')
		}
		p := l.Product
		b = append(b, '{')
		b = field(b, "ProductID", true)
		b = jsonw.AppendString(b, p.ID)
		if p.SKU != "" {
			b = field(b, "SKU", false)
			b = jsonw.AppendString(b, p.SKU)
		}
		b = field(b, "ProductName", false)
		b = jsonw.AppendString(b, p.Name)
		b = field(b, "Quantity", false)
		b = strconv.AppendInt(b, l.Quantity, 10)
		b = field(b, "ItemPrice", false)
		b = appendMoney(b, p.Price)
		b = field(b, "RowTotal", false)
		b = appendMoney(b, l.RowTotal())
		if p.URL != "" {
			b = field(b, "ProductURL", false)
			b = jsonw.AppendString(b, p.URL)
		}
		if p.ImageURL != "" {
			b = field(b, "ImageURL", false)
			b = jsonw.AppendString(b, p.ImageURL)
		}
		if len(p.Categories) > 0 {
			b = field(b, "ProductCategories", false)
			b = jsonw.AppendStrings(b, p.Categories)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// categoryUnion returns the categories of items without duplicates, those
// of items[first] first (when first >= 0), then the others in cart order.
func categoryUnion(items []shop.LineItem, first int) []string {
	n := 0
	for _, l := range items {
		n += len(l.Product.Categories)
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	var seen map[string]struct{}
	if n > 32 {
		seen = make(map[string]struct{}, n)
	}
	add := func(cats []string) {
		for _, c := range cats {
			if seen != nil {
				if _, dup := seen[c]; dup {
					continue
				}
				seen[c] = struct{}{}
			} else if contains(out, c) {
				continue
			}
			out = append(out, c)
		}
	}
	if first >= 0 {
		add(items[first].Product.Categories)
	}
	for i, l := range items {
		if i != first {
			add(l.Product.Categories)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// IdentifyPushes builds ["identify",{...}] with the customer's email,
// phone_number, external_id, first_name and last_name, only those given,
// then its location and custom properties as the current profile API
// takes them ("location": {...}, "properties": {...}). At least one of
// the first three is required (error field "customer").
func IdentifyPushes(k shop.Customer) ([]Push, error) {
	if err := k.Validate(fieldCustomer); err != nil {
		return nil, err
	}
	props, err := shop.ProfileProperties(k.Properties, fieldCustomer+".properties")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64+len(k.Email)+len(k.PhoneNumber)+len(k.ExternalID)+len(k.FirstName)+len(k.LastName)+len(k.Properties))
	b = append(b, `["identify",{`...)
	first := true
	for _, f := range [...]struct{ key, val string }{
		{"email", k.Email},
		{"phone_number", k.PhoneNumber},
		{"external_id", k.ExternalID},
		{"first_name", k.FirstName},
		{"last_name", k.LastName},
	} {
		if f.val == "" {
			continue
		}
		b = field(b, f.key, first)
		b = jsonw.AppendString(b, f.val)
		first = false
	}
	if l := k.Location; l != nil && !l.IsZero() {
		b = field(b, "location", false)
		b = append(b, '{')
		lfirst := true
		for _, f := range [...]struct{ key, val string }{
			{"address1", l.Address1}, {"address2", l.Address2}, {"city", l.City},
			{"region", l.Region}, {"country", l.Country}, {"zip", l.Zip},
		} {
			if f.val == "" {
				continue
			}
			b = field(b, f.key, lfirst)
			b = jsonw.AppendString(b, f.val)
			lfirst = false
		}
		b = append(b, '}')
	}
	if len(props) > 0 {
		b = field(b, "properties", false)
		b = append(b, '{')
		for i, p := range props {
			if i > 0 {
				b = append(b, ',')
			}
			// Names and strings are the customer's: escaped for <script>.
			b = jsonw.AppendString(b, p.Name)
			b = append(b, ':')
			if p.IsString {
				b = jsonw.AppendString(b, p.Str)
			} else {
				b = append(b, p.Value...) // a number or boolean, as written
			}
		}
		b = append(b, '}')
	}
	b = append(b, "}]"...)
	return []Push{Push(b)}, nil
}

// productSize estimates the encoded size of a product's strings.
func productSize(p shop.Product) int {
	n := len(p.ID) + len(p.SKU) + len(p.Name) + len(p.URL) + len(p.ImageURL) + len(p.Brand)
	for _, c := range p.Categories {
		n += len(c) + 3
	}
	return n + 16
}

// cartSize estimates the encoded size of a cart's lines.
func cartSize(c shop.Cart) int {
	n := len(c.CheckoutURL) + len(c.ID)
	for _, l := range c.Items {
		n += 2*productSize(l.Product) + 160
	}
	return n
}
