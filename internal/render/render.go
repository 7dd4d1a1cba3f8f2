// Package render turns render requests (the JSON bodies of the render API
// and of `snippetd render`) into snippet partials: it decodes a body
// strictly (invalid UTF-8, malformed JSON and unknown members are
// EBADREQUEST), validates it (EINVALID naming the field), dispatches by
// snippet name (unknown names are ENOTFOUND) and renders the snippets
// component, returning the HTML and the pushes it carries. The HTTP adapter
// and the CLI share it, so both give the same partial for the same body.
package render

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/jsonw"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
	"github.com/snippetd/snippetd/web"
)

// Snippet names, as they appear in /v1/render/{snippet}, in a batch's
// "type" and on the command line.
const (
	Loader          = "loader"
	ViewedProduct   = "viewed-product"
	AddedToCart     = "added-to-cart"
	StartedCheckout = "started-checkout"
	Identify        = "identify"
	ViewedCategory  = "viewed-category"
	SearchedSite    = "searched-site"
)

// Names lists every snippet name in the order a page would use them.
var Names = []string{Loader, ViewedProduct, AddedToCart, StartedCheckout, Identify, ViewedCategory, SearchedSite}

// Known reports whether name is a snippet name, so that adapters can answer
// 404 before reading a body.
func Known(name string) bool { return slices.Contains(Names, name) }

// MaxBatch is the largest number of snippets one batch request renders.
const MaxBatch = 100

// Renderer renders snippets from request bodies. The zero value works; set
// the fields to change the defaults.
type Renderer struct {
	// PublicKey is the Klaviyo public key the loader uses when a request
	// names none (the server's SNIPPETD_PUBLIC_KEY).
	PublicKey string
	// KlaviyoJSURL replaces the klaviyo.js URL of the loader when a request
	// names none (empty: Klaviyo's own URL for the key).
	KlaviyoJSURL string
	// ProxyEndpoint is the helper's first-party endpoint prefix when a
	// request asks for the helper and names none (the server's proxy prefix
	// when SNIPPETD_PROXY=on, so the loader renders in proxy mode).
	ProxyEndpoint string
	// Now is the clock for a Started Checkout request without a time (nil:
	// time.Now); tests pin it.
	Now func() time.Time
	// Helpers are the browser helper's builds a loader links when a request
	// asks for the helper (nil: such requests fail).
	Helpers *web.Helpers
	// Observe, when set, is called with the ProductID of every product a
	// rendered snippet names (the catalog counts ids it lacks, since
	// Klaviyo joins events to the catalog by id).
	Observe func(productID string)
	// DefaultCountry (SNIPPETD_DEFAULT_COUNTRY) reads an identify's
	// national phone number when its address has no country_code.
	DefaultCountry string
	// Currency (SNIPPETD_CURRENCY) is the currency of product, cart and
	// checkout amounts when a request names none: a price with more
	// decimals than its ISO 4217 minor units is refused, and amounts are
	// written with exactly those decimals. Empty: cents, as always.
	Currency string
	// Phones, when set, counts identify phone numbers that could not be
	// normalised to E.164 and were left out (as source "render"); an
	// interface so that setting it per request allocates nothing.
	Phones interface{ ObservePhonesDropped(source string, n int) }
	// PhoneLog, when set, is shown each identify phone number left out
	// (the inspector), with its field and the text as sent.
	PhoneLog interface {
		RecordPhoneDropped(source, field, number string)
	}
	// Carts, when set, remembers the cart of every Added to Cart and
	// Started Checkout rendered and may give it a restore link as
	// CheckoutURL (package carts).
	Carts CartLinker
}

// CartLinker remembers a cart and, when it should have one, makes its
// CheckoutURL a restore link; a storage failure leaves the cart as sent.
type CartLinker interface {
	LinkNow(ctx context.Context, c *shop.Cart)
}

// Result is a rendered partial and the arrays it pushes, in page order.
type Result struct {
	HTML   []byte
	Pushes []snippets.Push
}

// AppendJSON appends the result as the render API's JSON form,
// {"html": "<the partial>", "pushes": [[...], ...]}, to b. The pushes are
// framed as they are: snippets wrote them as compact, script-safe JSON, so
// nothing reads them again; the partial is escaped as encoding/json
// escapes strings.
func (r Result) AppendJSON(b []byte) []byte {
	n := len(`{"html":,"pushes":[]}`) + len(r.HTML) + len(r.HTML)/8 + 2
	for _, p := range r.Pushes {
		n += len(p) + 1
	}
	b = slices.Grow(b, n)
	b = append(b, `{"html":`...)
	b = jsonw.AppendString(b, string(r.HTML))
	b = append(b, `,"pushes":[`...)
	for i, p := range r.Pushes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p...)
	}
	return append(b, "]}"...)
}

// MarshalJSON returns AppendJSON's form; callers that write the response
// themselves call AppendJSON, which encoding/json does not scan again.
func (r Result) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// The request bodies. Pointers tell a missing member from an empty one.
type (
	loaderRequest struct {
		PublicKey    string `json:"public_key,omitempty"`
		KlaviyoJSURL string `json:"klaviyo_js_url,omitempty"`
		// Browser helper (web): included when Helper is true, the build
		// matching ConsentRequired and ProxyEndpoint, served from HelperBase
		// (a CDN origin; default this server's path).
		Helper                bool   `json:"helper,omitempty"`
		HelperBase            string `json:"helper_base,omitempty"`
		ConsentRequired       bool   `json:"consent_required,omitempty"`
		ProxyEndpoint         string `json:"proxy_endpoint,omitempty"`
		CheckoutEmailSelector string `json:"checkout_email_selector,omitempty"`
		CheckoutPhoneSelector string `json:"checkout_phone_selector,omitempty"`
	}
	viewedProductRequest struct {
		Product  *shop.Product `json:"product"`
		Currency *string       `json:"currency,omitempty"`
	}
	addedToCartRequest struct {
		Cart     *shop.Cart     `json:"cart"`
		Added    *shop.LineItem `json:"added"`
		Currency *string        `json:"currency,omitempty"`
	}
	startedCheckoutRequest struct {
		Cart     *shop.Cart `json:"cart"`
		Time     *string    `json:"time,omitempty"`
		Currency *string    `json:"currency,omitempty"`
	}
	identifyRequest struct {
		Customer *shop.Customer `json:"customer"`
	}
	viewedCategoryRequest struct {
		Category *snippets.Category `json:"category"`
	}
	searchedSiteRequest struct {
		Search *snippets.Search `json:"search"`
	}
)

// Render decodes body as the request of the named snippet and renders it.
// ctx carries the CSP nonce (templ.WithNonce). An empty body is {}.
func (rd Renderer) Render(ctx context.Context, name string, body []byte) (Result, error) {
	if !Known(name) {
		return Result{}, unknown(name)
	}
	s, size, err := rd.decode(ctx, name, body)
	if err != nil {
		return Result{}, apperr.From(err)
	}
	var buf bytes.Buffer
	return rd.write(ctx, &buf, []string{inputField(name)}, []pushSize{size}, s)
}

// inputField is the request member a snippet's pushes are built from,
// which an error about a push names.
func inputField(name string) string {
	switch name {
	case ViewedProduct:
		return "product"
	case AddedToCart, StartedCheckout:
		return "cart"
	case Identify:
		return "customer"
	}
	return name
}

// RenderBatch renders {"snippets": [{"type": "<name>", ...request}, ...]}
// into one partial whose pushes are those of every snippet in order. Errors
// name the item, as in "snippets[1].cart.items[0].price".
func (rd Renderer) RenderBatch(ctx context.Context, body []byte) (Result, error) {
	var req struct {
		Snippets []jsontext.Value `json:"snippets"`
	}
	if err := strictjson.Decode(orEmpty(body), &req); err != nil {
		return Result{}, err
	}
	switch {
	case len(req.Snippets) == 0:
		return Result{}, apperr.FieldErrorf("snippets", "must hold at least one snippet")
	case len(req.Snippets) > MaxBatch:
		return Result{}, apperr.FieldErrorf("snippets", "must hold at most %d snippets", MaxBatch)
	}
	list := make([]snippets.Snippet, len(req.Snippets))
	fields := make([]string, len(req.Snippets))
	sizes := make([]pushSize, len(req.Snippets))
	for i, raw := range req.Snippets {
		prefix := fmt.Sprintf("snippets[%d]", i)
		var item struct {
			Type *string        `json:"type"`
			Rest jsontext.Value `json:",unknown"`
		}
		if err := strictjson.DecodeWith(raw, &item); err != nil {
			return Result{}, apperr.PrefixField(prefix, err)
		}
		if item.Type == nil {
			return Result{}, apperr.FieldErrorf(prefix+".type", "is required")
		}
		if !Known(*item.Type) {
			return Result{}, apperr.FieldErrorf(prefix+".type", "must be one of %s", strings.Join(Names, ", "))
		}
		s, size, err := rd.decode(ctx, *item.Type, item.Rest)
		if err != nil {
			return Result{}, apperr.PrefixField(prefix, err)
		}
		list[i], sizes[i] = s, size
		fields[i] = prefix + "." + inputField(*item.Type)
	}
	var buf bytes.Buffer
	return rd.write(ctx, &buf, fields, sizes, list...)
}

// write renders the snippets into buf and collects their pushes; fields
// name the input of each snippet for errors about its pushes, sizes bound
// them (checkPushes).
func (rd Renderer) write(ctx context.Context, buf *bytes.Buffer, fields []string, sizes []pushSize, list ...snippets.Snippet) (Result, error) {
	var res Result
	for i, s := range list {
		ps, err := s.Pushes()
		if err != nil {
			return Result{}, apperr.From(err)
		}
		if err := checkPushes(ps, fields[i], sizes[i]); err != nil {
			return Result{}, err
		}
		res.Pushes = append(res.Pushes, ps...)
		if err := s.Render(ctx, buf); err != nil {
			return Result{}, err
		}
	}
	res.HTML = buf.Bytes()
	return res, nil
}

func orEmpty(body []byte) []byte {
	if len(bytes.TrimSpace(body)) == 0 {
		return []byte("{}")
	}
	return body
}

// decode parses and validates the body of one snippet request, and bounds
// the pushes it will give (see pushSize).
func (rd Renderer) decode(ctx context.Context, name string, body []byte) (snippets.Snippet, pushSize, error) {
	body = orEmpty(body)
	switch name {
	case Loader:
		var req loaderRequest
		if _, err := decodeInto(body, &req); err != nil {
			return snippets.Snippet{}, pushSize{}, err
		}
		s, err := rd.loader(req)
		return s, pushSize{}, err
	case ViewedProduct:
		var req viewedProductRequest
		size, err := decodeInto(body, &req)
		if err != nil {
			return snippets.Snippet{}, size, err
		}
		if req.Product != nil {
			size.product(*req.Product)
		}
		s, err := rd.viewedProduct(req)
		return s, size, err
	case AddedToCart:
		var req addedToCartRequest
		size, err := decodeInto(body, &req)
		if err != nil {
			return snippets.Snippet{}, size, err
		}
		s, err := rd.addedToCart(ctx, req)
		if req.Cart != nil && req.Added != nil {
			size.cart(*req.Cart)
			size.product(req.Added.Product)
		}
		return s, size, err
	case StartedCheckout:
		var req startedCheckoutRequest
		size, err := decodeInto(body, &req)
		if err != nil {
			return snippets.Snippet{}, size, err
		}
		s, err := rd.startedCheckout(ctx, req)
		if req.Cart != nil {
			size.cart(*req.Cart)
		}
		return s, size, err
	case Identify:
		var req identifyRequest
		size, err := decodeInto(body, &req)
		if err != nil {
			return snippets.Snippet{}, size, err
		}
		s, err := rd.identify(req)
		return s, size, err
	case ViewedCategory:
		var req viewedCategoryRequest
		size, err := decodeInto(body, &req)
		if err != nil {
			return snippets.Snippet{}, size, err
		}
		if req.Category == nil {
			return snippets.Snippet{}, size, apperr.FieldErrorf("category", "is required")
		}
		s := snippets.ViewedCategory(*req.Category)
		rd.observeIDs(s, req.Category.ProductIDs)
		size.array = len(req.Category.ProductIDs)
		return s, size, s.Err()
	case SearchedSite:
		var req searchedSiteRequest
		size, err := decodeInto(body, &req)
		if err != nil {
			return snippets.Snippet{}, size, err
		}
		if req.Search == nil {
			return snippets.Snippet{}, size, apperr.FieldErrorf("search", "is required")
		}
		s := snippets.SearchedSite(*req.Search)
		rd.observeIDs(s, req.Search.ProductIDs)
		size.array = len(req.Search.ProductIDs)
		return s, size, s.Err()
	}
	return snippets.Snippet{}, pushSize{}, unknown(name)
}

func (rd Renderer) loader(req loaderRequest) (snippets.Snippet, error) {
	o := snippets.LoaderOptions{PublicKey: req.PublicKey, KlaviyoJSURL: req.KlaviyoJSURL}
	if o.PublicKey == "" && o.KlaviyoJSURL == "" {
		o.PublicKey, o.KlaviyoJSURL = rd.PublicKey, rd.KlaviyoJSURL
	}
	o.ConsentRequired, o.ProxyEndpoint = req.ConsentRequired, req.ProxyEndpoint
	if req.Helper && o.ProxyEndpoint == "" {
		o.ProxyEndpoint = rd.ProxyEndpoint
	}
	o.CheckoutEmailSelector, o.CheckoutPhoneSelector = req.CheckoutEmailSelector, req.CheckoutPhoneSelector
	if req.Helper {
		if rd.Helpers == nil {
			return snippets.Snippet{}, apperr.Errorf(apperr.EUNAVAILABLE, "the browser helper is not available here")
		}
		b := rd.Helpers.Get(web.Features{Consent: o.ConsentRequired, Proxy: o.ProxyEndpoint != ""})
		o.HelperSrc, o.HelperIntegrity = strings.TrimSuffix(req.HelperBase, "/")+b.Path, b.Integrity
	} else if req.HelperBase != "" {
		return snippets.Snippet{}, apperr.FieldErrorf("helper_base", "needs \"helper\": true")
	}
	s := snippets.Loader(o)
	return s, s.Err()
}

func (rd Renderer) viewedProduct(req viewedProductRequest) (snippets.Snippet, error) {
	if req.Product == nil {
		return snippets.Snippet{}, apperr.FieldErrorf("product", "is required")
	}
	p := *req.Product
	if code, digits, ok, err := rd.currencyOf(req.Currency); err != nil {
		return snippets.Snippet{}, err
	} else if ok {
		if err := scaleProduct(&p, code, digits, "product"); err != nil {
			return snippets.Snippet{}, err
		}
	}
	s := snippets.ViewedProduct(p)
	if s.Err() == nil && rd.Observe != nil {
		rd.Observe(req.Product.ID)
	}
	return s, s.Err()
}

func (rd Renderer) addedToCart(ctx context.Context, req addedToCartRequest) (snippets.Snippet, error) {
	switch {
	case req.Cart == nil:
		return snippets.Snippet{}, apperr.FieldErrorf("cart", "is required")
	case req.Added == nil:
		return snippets.Snippet{}, apperr.FieldErrorf("added", "is required (the line just added, as it is in the cart)")
	}
	if code, digits, ok, err := rd.currencyOf(req.Currency); err != nil {
		return snippets.Snippet{}, err
	} else if ok {
		c, err := scaleCart(*req.Cart, code, digits, "cart")
		if err != nil {
			return snippets.Snippet{}, err
		}
		added := *req.Added
		if err := scaleProduct(&added.Product, code, digits, "added.product"); err != nil {
			return snippets.Snippet{}, err
		}
		req.Cart, req.Added = &c, &added
	}
	rd.linkCart(ctx, req.Cart)
	s := snippets.AddedToCart(*req.Cart, *req.Added)
	rd.observeCart(s, req.Cart)
	return s, s.Err()
}

func (rd Renderer) startedCheckout(ctx context.Context, req startedCheckoutRequest) (snippets.Snippet, error) {
	if req.Cart == nil {
		return snippets.Snippet{}, apperr.FieldErrorf("cart", "is required")
	}
	var at time.Time
	if req.Time != nil {
		t, err := time.Parse(time.RFC3339, *req.Time)
		if err != nil {
			return snippets.Snippet{}, apperr.FieldErrorf("time", "must be an RFC 3339 time such as 2026-11-27T10:00:00Z")
		}
		at = t
	} else if rd.Now != nil {
		at = rd.Now()
	} else {
		at = time.Now()
	}
	if code, digits, ok, err := rd.currencyOf(req.Currency); err != nil {
		return snippets.Snippet{}, err
	} else if ok {
		c, err := scaleCart(*req.Cart, code, digits, "cart")
		if err != nil {
			return snippets.Snippet{}, err
		}
		req.Cart = &c
	}
	rd.linkCart(ctx, req.Cart)
	s := snippets.StartedCheckout(*req.Cart, at)
	rd.observeCart(s, req.Cart)
	return s, s.Err()
}

// linkCart hands a valid cart to Carts, which remembers it and may make
// its CheckoutURL a restore link.
func (rd Renderer) linkCart(ctx context.Context, c *shop.Cart) {
	if rd.Carts != nil && c.Validate("cart") == nil {
		rd.Carts.LinkNow(ctx, c)
	}
}

// observeCart reports the products of a cart that rendered.
func (rd Renderer) observeCart(s snippets.Snippet, c *shop.Cart) {
	if s.Err() != nil || rd.Observe == nil {
		return
	}
	for _, l := range c.Items {
		rd.Observe(l.Product.ID)
	}
}

// observeIDs reports the products a browse page shows, once it rendered.
func (rd Renderer) observeIDs(s snippets.Snippet, ids []string) {
	if s.Err() != nil || rd.Observe == nil {
		return
	}
	for _, id := range ids {
		rd.Observe(id)
	}
}

func (rd Renderer) identify(req identifyRequest) (snippets.Snippet, error) {
	if req.Customer == nil {
		return snippets.Snippet{}, apperr.FieldErrorf("customer", "is required")
	}
	c := *req.Customer
	if c.PhoneNumber != "" {
		country := rd.DefaultCountry
		if c.Address != nil && len(strings.TrimSpace(c.Address.CountryCode)) == 2 {
			country = c.Address.CountryCode
		}
		phone, err := shop.NormalizePhone(c.PhoneNumber, country)
		if err != nil {
			// Klaviyo would refuse the identify for it: left out, and
			// refused only when it was the sole identifier.
			if strings.TrimSpace(c.Email) == "" && strings.TrimSpace(c.ExternalID) == "" {
				return snippets.Snippet{}, apperr.FieldErrorf("customer.phone_number", "%s; it is the only identifier", err)
			}
			if rd.Phones != nil {
				rd.Phones.ObservePhonesDropped("render", 1)
			}
			if rd.PhoneLog != nil {
				rd.PhoneLog.RecordPhoneDropped("render", "customer.phone_number", c.PhoneNumber)
			}
		}
		c.PhoneNumber = phone
	}
	s := snippets.Identify(c)
	return s, s.Err()
}

// UnknownError is the ENOTFOUND error for a snippet name that does not
// exist, naming the ones that do.
func (rd Renderer) UnknownError(name string) error { return unknown(name) }

func unknown(name string) error {
	return apperr.Errorf(apperr.ENOTFOUND, "unknown snippet %q: want one of %s", name, strings.Join(Names, ", "))
}
