package demo

import (
	"embed"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// Static holds the shop's stylesheet, its script and the klaviyo.js
// stand-in, served under /demo/static/.
//
//go:embed static/*
var Static embed.FS

// Modes of the demo: browser events through klaviyo.js, or through the
// first-party proxy.
const (
	ModeDirect = "direct"
	ModeProxy  = "proxy"
)

// Chrome is what every page's frame needs.
type Chrome struct {
	Title  string
	Loader snippets.LoaderOptions
	// Mode is ModeDirect or ModeProxy; ProxyOn says whether the proxy is
	// mounted (else the toggle explains how to turn it on).
	Mode    string
	ProxyOn bool
	// Path is the current page, where the mode toggle returns to.
	Path      string
	CartCount int64
	// Debug shows the overlay listing window._klOnsite (in proxy mode,
	// what the helper sent to the proxy).
	Debug bool
	// LocalSink says nothing leaves the machine.
	LocalSink bool
	// Cart is the cart as it is now, for the helper (data-snippetd-cart).
	Cart shop.Cart
	// Subscribe shows the newsletter signup and the checkout's "email me
	// offers" box (the shop has a Subscriber).
	Subscribe bool
}

// newsletterEndpoint is where the newsletter form posts from the browser:
// the proxy's {prefix}subscribe in proxy mode, "" otherwise (the form
// posts to the shop, which subscribes from the server).
func newsletterEndpoint(c Chrome) string {
	if c.Mode == ModeProxy {
		return c.Loader.ProxyEndpoint + "subscribe"
	}
	return ""
}

// ProductView is a product page.
type ProductView struct {
	Item    Item
	Product shop.Product // with absolute URLs
	Related []ProductCard
	// Viewed is the server-rendered Viewed Product snippet (direct mode);
	// in proxy mode it is nil and the helper reports the view.
	Viewed templ.Component
}

// ProductCard is a product in a grid.
type ProductCard struct {
	Item    Item
	Product shop.Product
}

// CheckoutView is the checkout page.
type CheckoutView struct {
	Cart  shop.Cart
	Error string
	Form  CheckoutForm
}

// CheckoutForm is what the shopper typed.
type CheckoutForm struct {
	Email, FirstName, LastName, Address1, City, Zip, Country string
	// Offers is the "email me offers" box.
	Offers bool
}

// ConfirmationView is the order confirmation.
type ConfirmationView struct {
	Order     shop.Order
	UniqueIDs []string
}

// addLine is the declarative Added to Cart attribute of a button.
func addLine(p shop.Product, qty int64) string {
	b, _ := json.Marshal(shop.LineItem{Product: p, Quantity: qty})
	return string(b)
}

func jsonAttr(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func money(m shop.Money) string {
	c := m.Cents()
	return fmt.Sprintf("$%d.%02d", c/100, c%100)
}

func itoa(n int64) string { return fmt.Sprint(n) }

func modeLink(mode, back string) templ.SafeURL {
	return templ.SafeURL("/demo/mode?to=" + mode + "&back=" + url.QueryEscape(back))
}

func inspectorLink(email string) templ.SafeURL {
	return templ.SafeURL("/debug/events?profile=" + url.QueryEscape(email))
}

// Picture draws a product as an SVG: a soft background, the product's
// colour and its initial, so the demo needs no image files.
func Picture(it Item) string {
	initial := strings.ToUpper(it.Name[:1])
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600" viewBox="0 0 800 600">`+
		`<rect width="800" height="600" fill="#f5f5f4"/>`+
		`<circle cx="400" cy="300" r="190" fill="%[1]s" opacity="0.15"/>`+
		`<rect x="270" y="170" width="260" height="260" rx="48" fill="%[1]s"/>`+
		`<text x="400" y="345" font-family="Georgia,serif" font-size="150" text-anchor="middle" fill="#fff">%[2]s</text>`+
		`<text x="400" y="520" font-family="system-ui,sans-serif" font-size="34" text-anchor="middle" fill="#57534e">%[3]s</text></svg>`,
		it.Color, html.EscapeString(initial), html.EscapeString(it.Name))
}
