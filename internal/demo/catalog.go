// Package demo is the demo storefront at /demo/: a small shop built only
// on snippetd's public packages (the snippets, the shop types, the browser
// helper builds) so that a new user can watch snippetd work within a
// minute of `make run`, and so that it doubles as the reference Go
// storefront. Shop is its http.Handler; what it needs of the server
// (placing and reading orders, recording rendered pushes, render metrics,
// the klaviyo.js stand-in's report endpoint) comes in through small
// interfaces in Options.
//
// It imports only shop, snippets, web, templ and the standard library.
package demo

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/snippetd/snippetd/shop"
)

// PublicKey is the clearly fake Klaviyo public key the demo's loader uses
// when none is configured: klaviyo.js is then the local stand-in.
const PublicKey = "DEMO00"

// Item is one product of the demo catalog with what the page shows.
type Item struct {
	shop.Product
	Color string // the product picture's main colour
	Blurb string
}

// Catalog is the demo shop's products.
var Catalog = []Item{
	{Product: shop.Product{ID: "mug", SKU: "LK-MUG-01", Name: "Stoneware Mug", Categories: []string{"Kitchen", "Mugs"}, Brand: "Larkspur", Price: shop.Cents(1800)},
		Color: "#c2410c", Blurb: "Hand-thrown stoneware with a speckled glaze. Holds 350 ml and keeps its warmth."},
	{Product: shop.Product{ID: "kettle", SKU: "LK-KET-02", Name: "Pour-Over Kettle", Categories: []string{"Kitchen", "Coffee"}, Brand: "Larkspur", Price: shop.Cents(6400), CompareAtPrice: shop.Cents(7900)},
		Color: "#334155", Blurb: "A gooseneck spout for a slow, even pour. Brushed steel, 1 litre, works on every hob."},
	{Product: shop.Product{ID: "towel", SKU: "LK-TWL-03", Name: "Linen Tea Towel", Categories: []string{"Kitchen", "Textiles"}, Brand: "Fieldhouse", Price: shop.Cents(1250)},
		Color: "#65a30d", Blurb: "Stonewashed European linen that gets softer with every wash."},
	{Product: shop.Product{ID: "board", SKU: "LK-BRD-04", Name: "Walnut Serving Board", Categories: []string{"Kitchen", "Serving"}, Brand: "Fieldhouse", Price: shop.Cents(4500)},
		Color: "#78350f", Blurb: "Solid black walnut, oiled by hand. Big enough for a loaf and a wedge of cheese."},
	{Product: shop.Product{ID: "planter", SKU: "LK-PLT-05", Name: "Ceramic Planter", Categories: []string{"Home", "Garden"}, Brand: "Larkspur", Price: shop.Cents(2800)},
		Color: "#0f766e", Blurb: "A matte glazed pot with a drainage saucer, for herbs on a sunny sill."},
	{Product: shop.Product{ID: "candle", SKU: "LK-CDL-06", Name: "Beeswax Candle", Categories: []string{"Home", "Candles"}, Brand: "Hive & Wick", Price: shop.Cents(1600)},
		Color: "#ca8a04", Blurb: "Pure beeswax poured in small batches. Burns clean for about 40 hours."},
}

// Find returns the catalog item with id.
func Find(id string) (Item, bool) {
	i := slices.IndexFunc(Catalog, func(it Item) bool { return it.ID == id })
	if i < 0 {
		return Item{}, false
	}
	return Catalog[i], true
}

// WithURLs returns the product with its absolute page and picture URLs on
// base (such as "http://localhost:8080"), as Klaviyo needs them.
func (it Item) WithURLs(base string) shop.Product {
	p := it.Product
	p.URL = base + "/demo/products/" + url.PathEscape(it.ID)
	p.ImageURL = base + "/demo/img/" + url.PathEscape(it.ID) + ".svg"
	return p
}

// Line is one cart line as the cart cookie keeps it.
type Line struct {
	ID       string
	Quantity int64
}

// MaxQuantity caps one line, so a cookie cannot make money overflow.
const MaxQuantity = 99

// ParseCart reads the cart cookie: "id:qty,id:qty". Unknown products and
// bad quantities are dropped, so a stale or edited cookie never breaks a
// page.
func ParseCart(v string) []Line {
	var out []Line
	for _, part := range strings.Split(v, ",") {
		id, q, ok := strings.Cut(part, ":")
		n, err := strconv.ParseInt(q, 10, 64)
		if _, known := Find(id); !ok || err != nil || !known || n < 1 {
			continue
		}
		out = AddLine(out, id, min(n, MaxQuantity))
	}
	return out
}

// FormatCart writes the cart cookie's value.
func FormatCart(lines []Line) string {
	parts := make([]string, len(lines))
	for i, l := range lines {
		parts[i] = fmt.Sprintf("%s:%d", l.ID, l.Quantity)
	}
	return strings.Join(parts, ",")
}

// AddLine adds n of product id, raising the quantity when it is already in
// the cart (as the helper does).
func AddLine(lines []Line, id string, n int64) []Line {
	out := slices.Clone(lines)
	for i := range out {
		if out[i].ID == id {
			out[i].Quantity = min(out[i].Quantity+n, MaxQuantity)
			return out
		}
	}
	return append(out, Line{ID: id, Quantity: min(n, MaxQuantity)})
}

// RemoveLine drops product id from the cart.
func RemoveLine(lines []Line, id string) []Line {
	return slices.DeleteFunc(slices.Clone(lines), func(l Line) bool { return l.ID == id })
}

// Cart builds the shop.Cart of lines with absolute URLs on base.
func Cart(id, base string, lines []Line) shop.Cart {
	c := shop.Cart{ID: id, CheckoutURL: base + "/demo/checkout", Items: []shop.LineItem{}}
	for _, l := range lines {
		it, _ := Find(l.ID)
		c.Items = append(c.Items, shop.LineItem{Product: it.WithURLs(base), Quantity: l.Quantity})
	}
	return c
}

// Count is the number of items in the cart.
func Count(lines []Line) int64 {
	var n int64
	for _, l := range lines {
		n += l.Quantity
	}
	return n
}
