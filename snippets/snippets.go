// Package snippets turns neutral storefront data (package shop) into the
// Klaviyo onsite snippets a first-class integration would put on a page:
// the klaviyo.js loader, Viewed Product with trackViewedItem, Added to Cart,
// Started Checkout and identify.
//
// It has two layers. The push builders (ViewedProductPushes,
// AddedToCartPushes, StartedCheckoutPushes, IdentifyPushes) are plain Go:
// they validate their input, compute money exactly, and return each array
// the page pushes onto the klaviyo queue as script-safe JSON with Klaviyo's
// key order. The templ components (Loader, ViewedProduct, AddedToCart,
// StartedCheckout, Identify) wrap those pushes in <script> elements, with
// the CSP nonce from templ.WithNonce on every one. Other code (the render
// API, the proxy, the demo shop, parity tests of the browser helper) reuses
// the builders.
//
// The package does no I/O and imports only the root package, shop and templ.
package snippets

import (
	"context"
	"io"
	"time"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/shop"
)

// failed is a component whose rendering returns err, so that invalid input
// fails the render instead of writing a partial script.
func failed(err error) templ.Component {
	return templ.ComponentFunc(func(context.Context, io.Writer) error { return err })
}

// Loader writes the klaviyo object init and the async klaviyo.js script
// tag; put it once on every page, before the other snippets. Rendering fails
// with a field error when o does not validate.
func Loader(o LoaderOptions) templ.Component {
	if err := o.Validate(); err != nil {
		return failed(err)
	}
	return loaderMarkup(o.ScriptURL())
}

// ViewedProduct writes the product page's Viewed Product and
// trackViewedItem pushes. Rendering fails with a field error when p does
// not validate.
func ViewedProduct(p shop.Product) templ.Component {
	ps, err := ViewedProductPushes(p)
	if err != nil {
		return failed(err)
	}
	return viewedProductMarkup(ps[0], ps[1])
}

// AddedToCart writes the Added to Cart push for the line added, which must
// already be in cart c.
func AddedToCart(c shop.Cart, added shop.LineItem) templ.Component {
	ps, err := AddedToCartPushes(c, added)
	if err != nil {
		return failed(err)
	}
	return addedToCartMarkup(ps[0])
}

// StartedCheckout writes the Started Checkout push for cart c at time at
// (zero means now).
func StartedCheckout(c shop.Cart, at time.Time) templ.Component {
	ps, err := StartedCheckoutPushes(c, at)
	if err != nil {
		return failed(err)
	}
	return startedCheckoutMarkup(ps[0])
}

// Identify writes the identify push for customer k.
func Identify(k shop.Customer) templ.Component {
	ps, err := IdentifyPushes(k)
	if err != nil {
		return failed(err)
	}
	return identifyMarkup(ps[0])
}
