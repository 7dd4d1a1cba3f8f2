// Package snippets turns neutral storefront data (package shop) into the
// Klaviyo onsite snippets a first-class integration would put on a page:
// the klaviyo.js loader, Viewed Product with trackViewedItem, Added to Cart,
// Started Checkout and identify, and the browse-intent events Viewed
// Category and Searched Site (browse.go, with the SFCC cartridge's names).
//
// It has two layers. The builders are plain Go: the event builders
// (ViewedProductEvent, AddedToCartEvent, StartedCheckoutEvent,
// ViewedCategoryEvent, SearchedSiteEvent) validate their input, compute
// money exactly and return the track call as an Event (metric, event id,
// value, script-safe properties) for a server to send; the push builders
// (ViewedProductPushes, AddedToCartPushes, StartedCheckoutPushes,
// IdentifyPushes, ViewedCategoryPushes, SearchedSitePushes) return each
// array the page pushes onto the klaviyo queue as script-safe JSON with
// Klaviyo's key order, a track call being its Event's Push. The templ
// components (Loader, ViewedProduct, AddedToCart, StartedCheckout,
// Identify, ViewedCategory, SearchedSite) wrap those pushes in <script>
// elements, with the CSP nonce from templ.WithNonce on every one.
// snippetd's render API, its first-party proxy and its demo shop are built
// on this package.
//
// Input that breaks a rule is reported as a *shop.FieldError naming the
// offending field. The package does no I/O.
package snippets

import (
	"context"
	"io"
	"time"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/shop"
)

// Snippet is a component together with the pushes it writes, so that a
// caller such as the render API builds the payload once and gets both the
// partial and the arrays. It is a templ.Component: use it as
// @snippets.ViewedProduct(p) in templ or call Render. Rendering a Snippet
// built from invalid input writes nothing and returns the field error.
type Snippet struct {
	markup templ.Component
	pushes []Push
	err    error
}

// Render writes the partial to w, or returns the validation error.
func (s Snippet) Render(ctx context.Context, w io.Writer) error {
	if s.err != nil {
		return s.err
	}
	return s.markup.Render(ctx, w)
}

// Pushes returns the arrays the partial pushes onto the klaviyo queue (none
// for the loader), or the validation error.
func (s Snippet) Pushes() ([]Push, error) { return s.pushes, s.err }

// Err returns the validation error of the input, if any.
func (s Snippet) Err() error { return s.err }

// Loader writes the klaviyo object init and the async klaviyo.js script
// tag; put it once on every page, before the other snippets. Rendering fails
// with a field error when o does not validate.
func Loader(o LoaderOptions) Snippet {
	if err := o.Validate(); err != nil {
		return Snippet{err: err}
	}
	src := o.ScriptURL()
	if o.ConsentRequired || o.ProxyEndpoint != "" {
		// The helper loads it: on consent, or in proxy mode at start, so
		// that it sees klaviyo.js fail and sends Active on Site itself.
		src = ""
	}
	return Snippet{markup: templ.Join(loaderMarkup(src), helperMarkup(o)), pushes: []Push{}}
}

// ViewedProduct writes the product page's Viewed Product and
// trackViewedItem pushes. Rendering fails with a field error when p does
// not validate.
func ViewedProduct(p shop.Product) Snippet {
	ps, err := ViewedProductPushes(p)
	if err != nil {
		return Snippet{err: err}
	}
	return Snippet{markup: viewedProductMarkup(ps[0], ps[1]), pushes: ps}
}

// AddedToCart writes the Added to Cart push for the line added, which must
// already be in cart c.
func AddedToCart(c shop.Cart, added shop.LineItem) Snippet {
	ps, err := AddedToCartPushes(c, added)
	if err != nil {
		return Snippet{err: err}
	}
	return Snippet{markup: addedToCartMarkup(ps[0]), pushes: ps}
}

// StartedCheckout writes the Started Checkout push for cart c at time at
// (zero means now).
func StartedCheckout(c shop.Cart, at time.Time) Snippet {
	ps, err := StartedCheckoutPushes(c, at)
	if err != nil {
		return Snippet{err: err}
	}
	return Snippet{markup: startedCheckoutMarkup(ps[0]), pushes: ps}
}

// Identify writes the identify push for customer k.
func Identify(k shop.Customer) Snippet {
	ps, err := IdentifyPushes(k)
	if err != nil {
		return Snippet{err: err}
	}
	return Snippet{markup: identifyMarkup(ps[0]), pushes: ps}
}
