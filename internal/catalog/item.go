// Package catalog serves the storefront's products to Klaviyo, either as
// Klaviyo's custom catalog feed (GET /catalog.json and /catalog.xml) or
// through the Catalog API (`snippetd catalog sync`), never both for one
// catalog. Products come from a file (SNIPPETD_CATALOG_FILE, reloaded when
// it changes) or from the database (PUT/PATCH /v1/catalog/products).
//
// Every load validates the products once and writes the good ones to a
// private snapshot file, one feed object per line; requests then stream
// that snapshot, so memory stays flat in the number of products and a
// reload swaps snapshots atomically without disturbing requests in flight.
// The package also keeps the index of known product ids that the render
// API and the proxy consult (Observe) to count events naming products the
// catalog does not have.
//
// It imports shop, db, klaviyo, jsonw and apperr; httpapi and app import
// it, never the reverse.
package catalog

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/snippetd/snippetd/shop"
)

// Item is one product as Klaviyo's custom catalog feed carries it: flat,
// one level deep, with Klaviyo's field names. Snapshots store Items as
// JSON lines in exactly the feed's JSON encoding.
type Item struct {
	ID                string     `json:"id" xml:"id"`
	Title             string     `json:"title" xml:"title"`
	Link              string     `json:"link" xml:"link"`
	Description       string     `json:"description" xml:"description"`
	ImageLink         string     `json:"image_link" xml:"image_link"`
	Price             shop.Money `json:"price,omitzero" xml:"-"`
	Categories        []string   `json:"categories,omitempty" xml:"-"`
	InventoryQuantity *int64     `json:"inventory_quantity,omitempty" xml:"inventory_quantity,omitempty"`
	// InventoryPolicy is 1 (hide when out of stock) or 2 (always show);
	// 0 leaves it out, which Klaviyo reads as 2.
	InventoryPolicy int `json:"inventory_policy,omitempty" xml:"inventory_policy,omitempty"`
	// SKU, Brand and CompareAtPrice are not fields Klaviyo's feed knows:
	// it keeps flat members it does not know as custom catalog fields, so
	// a flow or template can show them.
	SKU            string     `json:"sku,omitempty" xml:"sku,omitempty"`
	Brand          string     `json:"brand,omitempty" xml:"brand,omitempty"`
	CompareAtPrice shop.Money `json:"compare_at_price,omitzero" xml:"-"`
	// Fields are the source's other flat members, written after the
	// known ones as custom fields in both formats (fields.go).
	Fields []Field `json:"-" xml:"-"`
}

// ItemOf maps a storefront product to a feed item, cleaning every string
// so that the JSON and the XML feed carry the same text: invalid UTF-8
// becomes U+FFFD and characters XML 1.0 cannot hold (most control
// characters, U+FFFE, U+FFFF) are dropped. Categories are trimmed and
// blank ones dropped. The id is kept as given: it is the key events join
// the catalog by, so check refuses one that cleaning would change rather
// than serving a different id.
func ItemOf(p shop.Product) Item {
	it := Item{
		ID:                p.ID,
		Title:             clean(p.Name),
		Link:              clean(p.URL),
		Description:       clean(p.Description),
		ImageLink:         clean(p.ImageURL),
		Price:             p.Price,
		InventoryQuantity: totalStock(p),
		InventoryPolicy:   p.InventoryPolicy,
		SKU:               clean(p.SKU),
		Brand:             clean(p.Brand),
		CompareAtPrice:    p.CompareAtPrice,
	}
	for _, c := range p.Categories {
		if c = strings.TrimSpace(clean(c)); c != "" {
			it.Categories = append(it.Categories, c)
		}
	}
	return it
}

// Problem kinds, the groups of GET /v1/catalog/problems.
const (
	KindMissing   = "missing_fields"
	KindDuplicate = "duplicate_ids"
	KindInvalid   = "invalid"
)

// Problem is one product left out of the catalog and why.
type Problem struct {
	// ID is the product's id, empty when the id itself is missing.
	ID string `json:"id,omitempty"`
	// Position is the product's 1-based position in the source (the line
	// for JSON lines and CSV files).
	Position int `json:"position,omitempty"`
	// Field is the offending field in the feed's naming (title, link...).
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// check returns the problem kind and description that keep it out of the
// feed, or "" when the item is fine. Required fields follow Klaviyo's
// feed: id, title, link, description and image_link, all non-blank.
func (it Item) check() (kind string, p Problem) {
	p.ID = it.ID
	var missing []string
	for _, f := range [...]struct{ name, v string }{
		{"id", it.ID}, {"title", it.Title}, {"link", it.Link},
		{"description", it.Description}, {"image_link", it.ImageLink},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		p.Field = missing[0]
		p.Message = "missing required " + strings.Join(missing, ", ")
		return KindMissing, p
	}
	switch {
	case clean(it.ID) != it.ID:
		p.Field, p.Message = "id", "must be valid UTF-8 without control characters (events name the product by this id)"
	case !isWebURL(it.Link):
		p.Field, p.Message = "link", "must be an absolute http(s) URL"
	case !isWebURL(it.ImageLink):
		p.Field, p.Message = "image_link", "must be an absolute http(s) URL"
	case it.Price.IsSet() && it.Price.Cents() < 0:
		p.Field, p.Message = "price", "must not be negative"
	case it.CompareAtPrice.IsSet() && it.CompareAtPrice.Cents() < 0:
		p.Field, p.Message = "compare_at_price", "must not be negative"
	case it.InventoryPolicy != 0 && it.InventoryPolicy != 1 && it.InventoryPolicy != 2:
		p.Field, p.Message = "inventory_policy", "must be 1 (hide when out of stock) or 2 (always show)"
	default:
		return "", Problem{}
	}
	return KindInvalid, p
}

// inCurrency checks that the item's amounts have no more decimals than
// currency's ISO 4217 minor units (0 for JPY, 3 for KWD) and scales them,
// so that the feed writes them exactly; "" keeps cents, as always.
func (it *Item) inCurrency(currency string) (Problem, bool) {
	if currency == "" {
		return Problem{}, false
	}
	digits, ok := shop.CurrencyDigits(currency)
	if !ok {
		return Problem{ID: it.ID, Field: "price", Message: "the shop's currency " + currency + " is not an ISO 4217 code"}, true
	}
	for _, a := range [...]struct {
		name string
		m    *shop.Money
	}{{"price", &it.Price}, {"compare_at_price", &it.CompareAtPrice}} {
		if !a.m.IsSet() {
			continue
		}
		if a.m.Places() > digits {
			return Problem{ID: it.ID, Field: a.name, Message: fmt.Sprintf("has more decimals than %s's %d", currency, digits)}, true
		}
		*a.m = a.m.In(digits)
	}
	return Problem{}, false
}

func isWebURL(s string) bool {
	u, err := url.Parse(strings.TrimSpace(s))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// xmlChar reports whether XML 1.0 can carry r.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// clean returns s as valid UTF-8 holding only characters XML 1.0 allows.
// The common case (nothing to change) does not allocate.
func clean(s string) string {
	ok := true
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				ok = false
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || !xmlChar(r) {
			ok = false
			break
		}
		i += n
	}
	if ok {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if xmlChar(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
