package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/jsonscan"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// onsiteMetrics are the metrics a browser may always send through the
// proxy: the ones klaviyo.js and the onsite snippets produce. Everything
// else (Placed Order, Ordered Product, fulfilment, refunds, ...) is a
// server-side fact a browser must not be able to forge.
var onsiteMetrics = []string{"Active on Site", "Viewed Product", "Added to Cart", "Started Checkout", snippets.MetricViewedCategory, snippets.MetricSearchedSite}

// serverMetrics are the metrics snippetd sends from the server. An operator
// cannot allow them as custom browser metrics (CheckCustomMetric refuses).
var serverMetrics = []string{"Placed Order", "Ordered Product", "Fulfilled Order", "Cancelled Order", "Refunded Order"}

// EventLimits bound what one browser request may carry. They sit far below
// Klaviyo's own limits (5 MB payloads, 400 properties, 100 KB strings,
// 4,000-item arrays, depth 10) so that every accepted event also passes
// Klaviyo's validation.
type EventLimits struct {
	// MaxEvents is the most events one POST {prefix}e may carry (default 50).
	MaxEvents int
	// MaxProperties is the most keys an event's properties object may have
	// (default 400, Klaviyo's limit).
	MaxProperties int
	// MaxDepth is the deepest nesting of properties (default 10, Klaviyo's
	// limit; the properties object itself is level 1).
	MaxDepth int
	// MaxArray is the longest array inside properties (default 4,000).
	MaxArray int
	// MaxString is the longest string inside properties, in bytes (default
	// 100 KB, Klaviyo's limit; the body limit usually binds first).
	MaxString int
	// MaxValueCents caps an event's value (default 10,000,000.00): a browser
	// reporting a cart worth more is lying or broken.
	MaxValueCents int64
	// PastWindow and FutureWindow bound a browser-sent time (defaults 1 h and
	// 5 min). A time outside is replaced by the time the server received the
	// event rather than rejected: browser clocks are often wrong, and the
	// arrival time of a beacon is a better truth than a rejected event.
	PastWindow, FutureWindow time.Duration
}

// defaultLimits are the limits used when a field of EventLimits is zero.
var defaultLimits = EventLimits{
	MaxEvents:     50,
	MaxProperties: 400,
	MaxDepth:      10,
	MaxArray:      4000,
	MaxString:     100_000,
	MaxValueCents: 10_000_000_00,
	PastWindow:    time.Hour,
	FutureWindow:  5 * time.Minute,
}

func (l EventLimits) withDefaults() EventLimits {
	d := defaultLimits
	if l.MaxEvents > 0 {
		d.MaxEvents = l.MaxEvents
	}
	if l.MaxProperties > 0 {
		d.MaxProperties = l.MaxProperties
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxArray > 0 {
		d.MaxArray = l.MaxArray
	}
	if l.MaxString > 0 {
		d.MaxString = l.MaxString
	}
	if l.MaxValueCents > 0 {
		d.MaxValueCents = l.MaxValueCents
	}
	if l.PastWindow > 0 {
		d.PastWindow = l.PastWindow
	}
	if l.FutureWindow > 0 {
		d.FutureWindow = l.FutureWindow
	}
	return d
}

// wireBatch is the body of POST {prefix}e as the helper's proxy mode sends
// it. Unknown members are refused.
type wireBatch struct {
	Events  []wireEvent  `json:"events"`
	Profile *wireProfile `json:"profile"`
	// Kx is the _kx parameter of the landing page, which the helper keeps
	// for the session (the Referer carries it only on that first page).
	Kx string `json:"kx"`
	// Consent is the shopper's consent flag; required when the operator
	// enforces consent.
	Consent *bool `json:"consent"`
}

// wireEvent is one browser event, in one of two forms:
//
//   - properties form: the browser built the properties (and value)
//     itself; any allowed metric.
//   - input form: the browser sends what the render API takes, under the
//     render API's member names — product (Viewed Product), cart and added
//     (Added to Cart), cart (Started Checkout), category (Viewed Category),
//     search (Searched Site) — and the server builds the
//     event with package snippets' event builders, the ones the render API
//     uses. The helper's proxy build sends this form, so its payloads have
//     one source of truth and it carries no builders of its own.
//
// The members whose type depends on the metric stay raw JSON, decoded
// once the metric is known to take them: a refused metric is reported as
// such, not as a malformed input it does not take. Backfill and
// ValueCurrency exist only so that sending them gets a precise 422
// instead of "unknown field".
type wireEvent struct {
	Metric        string          `json:"metric"`
	Properties    json.RawMessage `json:"properties"`
	Time          json.RawMessage `json:"time"`
	UniqueID      string          `json:"unique_id"`
	Value         json.RawMessage `json:"value"`
	Product       json.RawMessage `json:"product"`
	Cart          json.RawMessage `json:"cart"`
	Added         json.RawMessage `json:"added"`
	Category      json.RawMessage `json:"category"`
	Search        json.RawMessage `json:"search"`
	Backfill      json.RawMessage `json:"backfill"`
	ValueCurrency json.RawMessage `json:"value_currency"`
}

// wireProfile is what a browser may say about its shopper: identifiers and
// names. Location, _kx and anonymous_id are the server's to set.
type wireProfile struct {
	Email       string `json:"email"`
	PhoneNumber string `json:"phone_number"`
	ExternalID  string `json:"external_id"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	// Kx is accepted on identify only (the helper may forward a landing
	// _kx with it); see wireIdentify.
}

// wireIdentify is the body of POST {prefix}i: the fields at the top level,
// or inside "profile" (what the helper's proxy mode sends), not both.
type wireIdentify struct {
	wireIdentifyProfile
	Profile *wireIdentifyProfile `json:"profile"`
	Kx      string               `json:"kx"`
	Consent *bool                `json:"consent"`
}

// wireIdentifyProfile is what an identify may say beside the identifiers
// and names: the shopper's location and custom properties, which the
// client profile API takes from a browser too.
type wireIdentifyProfile struct {
	wireProfile
	Location   *shop.Location  `json:"location"`
	Properties json.RawMessage `json:"properties"`
}

func (w wireIdentifyProfile) isZero() bool {
	return w.wireProfile == (wireProfile{}) && w.Location == nil && w.Properties == nil
}

// Claim is what a browser claims about its shopper, validated.
type Claim struct {
	Email       string
	PhoneNumber string
	ExternalID  string
	FirstName   string
	LastName    string
}

// HasIdentifier reports whether the claim names a profile.
func (c Claim) HasIdentifier() bool {
	return c.Email != "" || c.PhoneNumber != "" || c.ExternalID != ""
}

// Batch is a validated POST {prefix}e body. Its events have no profile
// yet: the handler attaches the one identity resolves.
type Batch struct {
	Events  []klaviyo.Event
	Profile Claim
	Kx      string
	Consent bool
	// Carts are the carts whose events got a restore link as CheckoutURL
	// (Options.Carts): the handler remembers them before enqueueing.
	Carts []shop.Cart
	// Products are the product ids the events name, when the validator
	// has Products configured: the handler reports them once the events
	// are stored.
	Products []string
	// Dropped is the profile's phone number that could not be normalised
	// and was left out (zero when none).
	Dropped DroppedPhone
}

// DroppedPhone is a phone number a browser sent that could not be put in
// E.164 form and was left out of the profile: Field is its JSON path,
// Number the text as sent.
type DroppedPhone struct {
	Field, Number string
}

// Identify is a validated POST {prefix}i body.
type Identify struct {
	Claim
	Kx      string
	Consent bool
	// Dropped is the phone number left out (zero when none).
	Dropped DroppedPhone
	// Location and Properties go to the profile as sent (validated; the
	// properties compact JSON), never stored for the browser.
	Location   *shop.Location
	Properties json.RawMessage
}

// Validator decodes and checks browser input. It holds the allowed metric
// names and limits; it does no I/O, so the fuzz targets drive it directly.
type Validator struct {
	allowed map[string]bool
	limits  EventLimits
	// checkoutOrigins are the origins a checkout URL may be on (the
	// proxy's allowed origins); nil accepts any http(s) origin, for a
	// Validator used on its own.
	checkoutOrigins map[string]bool
	carts           Carts    // nil: checkout_url is kept as sent
	products        Products // nil: product ids are not collected
	// country (ISO 3166 alpha-2, SNIPPETD_DEFAULT_COUNTRY) reads national
	// phone numbers; "" leaves them unguessed (dropped).
	country string
}

// NewValidator returns a Validator accepting the onsite metrics plus custom
// (operator-allowed names, which config validation has checked with
// CheckCustomMetric; server-side metrics among them are never allowed).
func NewValidator(custom []string, limits EventLimits) *Validator {
	v := &Validator{allowed: map[string]bool{}, limits: limits.withDefaults()}
	for _, m := range onsiteMetrics {
		v.allowed[m] = true
	}
	for _, m := range custom {
		if m = strings.TrimSpace(m); m != "" && !isServerMetric(m) {
			v.allowed[m] = true
		}
	}
	return v
}

func isServerMetric(m string) bool {
	for _, s := range serverMetrics {
		if strings.EqualFold(strings.TrimSpace(m), s) {
			return true
		}
	}
	return false
}

// CheckCustomMetric reports why name cannot be allowed as a custom browser
// metric, or nil. Config validation uses it.
func CheckCustomMetric(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("empty metric name")
	case isServerMetric(name):
		return fmt.Errorf("%q is a server-side metric; browsers may not send it", name)
	case len(name) >= 128:
		return fmt.Errorf("metric name %q is 128 characters or longer", name)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, isControl):
		return fmt.Errorf("metric name %q holds control characters", name)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// DecodeBatch decodes and validates a POST {prefix}e body received at now.
// Errors are *apperr.Error values naming the field at fault.
func (v *Validator) DecodeBatch(body []byte, now time.Time) (Batch, error) {
	var w wireBatch
	if err := strictjson.Decode(body, &w); err != nil {
		return Batch{}, prefixField(err)
	}
	var b Batch
	switch {
	case w.Events == nil:
		return b, apperr.FieldErrorf("events", "is required")
	case len(w.Events) == 0:
		return b, apperr.FieldErrorf("events", "must hold at least one event")
	case len(w.Events) > v.limits.MaxEvents:
		return b, apperr.FieldErrorf("events", "holds %d events; at most %d per request", len(w.Events), v.limits.MaxEvents)
	}
	if w.Profile != nil {
		c, dropped, err := validateProfileIn(*w.Profile, "profile", v.country)
		if err != nil {
			return b, err
		}
		b.Profile, b.Dropped = c, dropped
	}
	kx, err := validateKx(w.Kx, "kx")
	if err != nil {
		return b, err
	}
	b.Kx = kx
	b.Consent = w.Consent != nil && *w.Consent
	var ids *[]string
	if v.products != nil && v.products.Configured() {
		ids = &b.Products
	}
	seen := map[string]int{} // metric and unique id -> first event; one event cannot repeat
	for i, we := range w.Events {
		field := fmt.Sprintf("events[%d]", i)
		mark := len(b.Products)
		e, derived, err := v.validateEvent(we, field, now, &b.Carts, ids)
		if err != nil {
			return b, err
		}
		if e.UniqueID != "" {
			key := e.Metric + "\x00" + e.UniqueID
			if j, dup := seen[key]; dup {
				if derived {
					// A second Started Checkout of the same cart in the
					// same second is the same checkout: Klaviyo would keep
					// the first one only, so it is dropped here.
					b.Products = b.Products[:mark]
					continue
				}
				return b, apperr.FieldErrorf(field+".unique_id", "repeats events[%d].unique_id for the same metric", j)
			}
			seen[key] = i
		}
		b.Events = append(b.Events, e)
	}
	return b, nil
}

// DecodeIdentify decodes and validates a POST {prefix}i body.
func (v *Validator) DecodeIdentify(body []byte) (Identify, error) {
	var w wireIdentify
	if err := strictjson.Decode(body, &w); err != nil {
		return Identify{}, prefixField(err)
	}
	prof, prefix := w.wireIdentifyProfile, ""
	if w.Profile != nil {
		if !w.wireIdentifyProfile.isZero() {
			return Identify{}, apperr.FieldErrorf("profile", "send the identify fields at the top level or inside profile, not both")
		}
		prof, prefix = *w.Profile, "profile"
	}
	c, dropped, err := validateProfileIn(prof.wireProfile, prefix, v.country)
	if err != nil {
		return Identify{}, err
	}
	loc, props, err := validateProfileExtras(prof, prefix)
	if err != nil {
		return Identify{}, err
	}
	if !c.HasIdentifier() {
		return Identify{}, apperr.FieldErrorf("email", "identify needs at least one of email, phone_number, external_id")
	}
	kx, err := validateKx(w.Kx, "kx")
	if err != nil {
		return Identify{}, err
	}
	return Identify{Claim: c, Kx: kx, Consent: w.Consent != nil && *w.Consent, Dropped: dropped, Location: loc, Properties: props}, nil
}

// validateProfileExtras checks an identify's location and custom
// properties by the rules every identify follows (package shop); prefix
// is the JSON path of the object ("" or "profile").
func validateProfileExtras(w wireIdentifyProfile, prefix string) (*shop.Location, json.RawMessage, error) {
	f := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	var loc *shop.Location
	if w.Location != nil && !w.Location.IsZero() {
		l := *w.Location
		if err := l.Validate(f("location")); err != nil {
			return nil, nil, apperr.From(err)
		}
		loc = &l
	}
	props, err := shop.ProfileProperties(w.Properties, f("properties"))
	if err != nil {
		return nil, nil, apperr.From(err)
	}
	if len(props) == 0 {
		return loc, nil, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, w.Properties); err != nil {
		return nil, nil, apperr.FieldErrorf(f("properties"), "is not valid JSON")
	}
	return loc, b.Bytes(), nil
}

// validateEvent checks one event; derived reports that its unique id was
// built by the server (input-form Started Checkout) rather than sent.
//
// No klaviyo.Event.ValidateAt here: the limits sit inside Klaviyo's, and
// FuzzDecodeBatch checks that every event accepted passes ValidateAt; the
// outbox's enqueue validates every event again before storing it.
//
// ids, when not nil, gets the product ids the event names (see Products).
func (v *Validator) validateEvent(w wireEvent, field string, now time.Time, linked *[]shop.Cart, ids *[]string) (e klaviyo.Event, derived bool, err error) {
	switch {
	case w.Backfill != nil:
		return e, false, apperr.FieldErrorf(field+".backfill", "browsers may not set backfill")
	case w.ValueCurrency != nil:
		return e, false, apperr.FieldErrorf(field+".value_currency", "browsers may not set value_currency; the account's currency applies")
	case w.Metric == "":
		return e, false, apperr.FieldErrorf(field+".metric", "is required")
	case !v.allowed[w.Metric]:
		return e, false, apperr.FieldErrorf(field+".metric", "%q may not be sent from a browser; allowed: %s", truncate(w.Metric, 64), strings.Join(v.allowedNames(), ", "))
	}
	e.Metric = w.Metric

	sent, err := parseTime(w.Time, field+".time")
	if err != nil {
		return e, false, err
	}
	now = now.UTC().Truncate(time.Second)
	e.Time = sent
	if sent.IsZero() || sent.Before(now.Add(-v.limits.PastWindow)) || sent.After(now.Add(v.limits.FutureWindow)) {
		e.Time = now
	}

	if w.UniqueID != "" {
		if len(w.UniqueID) > 128 || !uniqueIDRe.MatchString(w.UniqueID) {
			return e, false, apperr.FieldErrorf(field+".unique_id", "must be 1 to 128 letters, digits or -_.:")
		}
		e.UniqueID = w.UniqueID
	}

	if present(w.Product) || present(w.Cart) || present(w.Added) || present(w.Category) || present(w.Search) {
		if sent.IsZero() {
			sent = now
		}
		derived, err = v.buildEvent(&e, w, field, sent, linked, ids)
		return e, derived, err
	}

	props, err := v.validateProperties(w.Properties, field+".properties")
	if err != nil {
		return e, false, err
	}
	if err := v.checkProperties(props, field+".properties"); err != nil {
		return e, false, err
	}
	e.Properties = props
	if ids != nil {
		*ids = appendPropertyProducts(*ids, props)
	}

	if present(w.Value) {
		m, err := parseValue(bytes.TrimSpace(w.Value))
		if err != nil {
			return e, false, apperr.FieldErrorf(field+".value", "%s", err.Error())
		}
		if err := v.checkValue(m, field+".value"); err != nil {
			return e, false, err
		}
		e.Value = m
	}
	return e, false, nil
}

// linkCart gives c its restore link (no I/O) and keeps it for the
// handler to remember.
func (v *Validator) linkCart(c *shop.Cart, at time.Time, linked *[]shop.Cart) {
	if v.carts != nil && v.carts.LinkCart(c, at) {
		*linked = append(*linked, *c)
	}
}

// checkValue bounds an event value.
func (v *Validator) checkValue(m shop.Money, field string) error {
	switch c := m.Cents(); {
	case c < 0:
		return apperr.FieldErrorf(field, "must not be negative")
	case c > v.limits.MaxValueCents:
		return apperr.FieldErrorf(field, "must be at most %s", shop.Cents(v.limits.MaxValueCents))
	}
	return nil
}

// present reports whether a member was sent with a value other than null.
func present(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

// buildEvent fills e's properties, value and (Started Checkout) unique id
// from an input-form event with package snippets' event builders, as the
// render API builds the push for the same inputs: value is the builder's
// value and unique_id its event id (the cart id and the unix second of at,
// the time the browser sent or else now; it replaces any unique_id sent,
// so that one checkout is one event however often it is sent). A cart
// given a restore link is appended to linked. Errors name the input field
// ("events[0].cart.items[1].quantity").
//
// ids, when not nil, gets the product ids the event names, from the
// decoded inputs: the product, the added line's, else the cart lines'.
func (v *Validator) buildEvent(e *klaviyo.Event, w wireEvent, field string, at time.Time, linked *[]shop.Cart, ids *[]string) (derived bool, err error) {
	switch {
	case present(w.Properties):
		return false, apperr.FieldErrorf(field+".properties", "cannot be sent with product, cart, added, category or search: the server builds the properties from them")
	case present(w.Value):
		return false, apperr.FieldErrorf(field+".value", "cannot be sent with product, cart, added, category or search: the server computes the value from them")
	}
	// wrongInput names the first input the metric does not take.
	wrongInput := func(takes string, names ...string) error {
		for i, raw := range []json.RawMessage{w.Product, w.Cart, w.Added, w.Category, w.Search} {
			if name := [...]string{"product", "cart", "added", "category", "search"}[i]; present(raw) && !slices.Contains(names, name) {
				return apperr.FieldErrorf(field+"."+name, "is not an input of %s, which takes %s", e.Metric, takes)
			}
		}
		return nil
	}
	var (
		built    snippets.Event
		size     builtSize // of the properties the builder makes from the inputs
		products []string  // the ids it names
	)
	switch e.Metric {
	case "Viewed Product":
		var p shop.Product
		if err := wrongInput("product", "product"); err != nil {
			return false, err
		}
		if err := decodeInput(w.Product, &p, field+".product"); err != nil {
			return false, err
		}
		if err := v.checkProductURLs(p, field+".product"); err != nil {
			return false, err
		}
		size.product(p)
		products = append(products, p.ID)
		built, err = snippets.ViewedProductEvent(p)
	case "Added to Cart":
		var (
			c     shop.Cart
			added shop.LineItem
		)
		if err := wrongInput("cart and added", "cart", "added"); err != nil {
			return false, err
		}
		if err := decodeInput(w.Cart, &c, field+".cart"); err != nil {
			return false, err
		}
		if err := decodeInput(w.Added, &added, field+".added"); err != nil {
			return false, err
		}
		if err := v.checkCartURLs(c, field+".cart"); err != nil {
			return false, err
		}
		if err := v.checkProductURLs(added.Product, field+".added.product"); err != nil {
			return false, err
		}
		v.linkCart(&c, at, linked)
		size.cart(c)
		size.product(added.Product)
		products = append(products, added.Product.ID)
		built, err = snippets.AddedToCartEvent(c, added)
	case "Started Checkout":
		var c shop.Cart
		if err := wrongInput("cart", "cart"); err != nil {
			return false, err
		}
		if err := decodeInput(w.Cart, &c, field+".cart"); err != nil {
			return false, err
		}
		if err := v.checkCartURLs(c, field+".cart"); err != nil {
			return false, err
		}
		v.linkCart(&c, at, linked)
		size.cart(c)
		for _, l := range c.Items {
			products = append(products, l.Product.ID)
		}
		built, err = snippets.StartedCheckoutEvent(c, at)
	case snippets.MetricViewedCategory:
		var c snippets.Category
		if err := wrongInput("category", "category"); err != nil {
			return false, err
		}
		if err := decodeInput(w.Category, &c, field+".category"); err != nil {
			return false, err
		}
		size.strings(c.ID, c.Name, c.URL)
		size.list(c.ProductIDs)
		built, err = snippets.ViewedCategoryEvent(c)
	case snippets.MetricSearchedSite:
		var s snippets.Search
		if err := wrongInput("search", "search"); err != nil {
			return false, err
		}
		if err := decodeInput(w.Search, &s, field+".search"); err != nil {
			return false, err
		}
		size.strings(s.Term)
		size.list(s.ProductIDs)
		built, err = snippets.SearchedSiteEvent(s)
	default:
		return false, wrongInput("properties: product, cart, added, category and search are inputs of Viewed Product, Added to Cart, Started Checkout, Viewed Category and Searched Site only")
	}
	if err != nil {
		return false, apperr.PrefixField(field, err)
	}

	input := field + ".cart" // the input errors name
	switch e.Metric {
	case "Viewed Product":
		input = field + ".product"
	case snippets.MetricViewedCategory:
		input = field + ".category"
	case snippets.MetricSearchedSite:
		input = field + ".search"
	}
	if built.Value.IsSet() {
		if err := v.checkValue(built.Value, input); err != nil {
			return false, apperr.FieldErrorf(input, "totals %s: the event value %s", built.Value, apperr.ErrorMessage(err))
		}
		e.Value = built.Value
	}
	if built.EventID != "" {
		e.UniqueID = eventUniqueID(built.EventID)
		derived = true
	}
	// The built properties must pass the limits every event is held to.
	// The decoded inputs bound them: only when they could be over a limit
	// are the builder's properties scanned, for the field to name.
	e.Properties = built.Properties
	if !v.fits(size) {
		props, err := v.validateProperties(built.Properties, field+".properties")
		if err != nil {
			return false, apperr.FieldErrorf(input, "gives properties over the limits (%s: %s)", apperr.ErrorField(err), apperr.ErrorMessage(err))
		}
		e.Properties = props
	}
	if ids != nil {
		for _, id := range products {
			if id != "" {
				*ids = append(*ids, id)
			}
		}
	}
	return derived, nil
}

// propertyProducts is the part of a browser's own properties that names
// catalog products.
type propertyProducts struct {
	ProductID          json.RawMessage `json:"ProductID"`
	AddedItemProductID json.RawMessage `json:"AddedItemProductID"`
	Items              []struct {
		ProductID json.RawMessage `json:"ProductID"`
	} `json:"Items"`
}

// appendPropertyProducts appends the products a browser's own properties
// name: its ProductID (Viewed Product), else AddedItemProductID (Added to
// Cart), else every Items[].ProductID (Started Checkout), as ids are
// strings or numbers. One event names its own product, not the whole cart
// again. The properties are the browser's input, read only when a catalog
// counts ids.
func appendPropertyProducts(ids []string, props json.RawMessage) []string {
	var pp propertyProducts
	if json.Unmarshal(props, &pp) != nil {
		return ids
	}
	if id := idText(pp.ProductID); id != "" {
		return append(ids, id)
	}
	if id := idText(pp.AddedItemProductID); id != "" {
		return append(ids, id)
	}
	for _, it := range pp.Items {
		if id := idText(it.ProductID); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// idText turns a JSON string or number into the id text the catalog
// compares; anything else is "".
func idText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return string(raw)
	}
	return ""
}

// builtSize bounds the properties snippets' event builders make from
// decoded inputs: every string in them is an input string as it is (the
// strict decoder took valid UTF-8 only), and every array holds at most
// array items (a cart's lines, the categories of a product or of all of a
// cart's lines, a page's product ids). Their keys, nesting (builtDepth)
// and member count (builtMembers) are the builders' own.
type builtSize struct {
	str, array int
}

const (
	builtDepth   = 4  // properties.Items[i].ProductCategories
	builtMembers = 16 // Added to Cart has 11
)

func (b *builtSize) strings(ss ...string) {
	for _, s := range ss {
		b.str = max(b.str, len(s))
	}
}

func (b *builtSize) list(ss []string) {
	b.strings(ss...)
	b.array = max(b.array, len(ss))
}

func (b *builtSize) product(p shop.Product) {
	b.strings(p.ID, p.SKU, p.Name, p.URL, p.ImageURL, p.Brand)
	b.list(p.Categories)
}

func (b *builtSize) cart(c shop.Cart) {
	b.strings(c.CheckoutURL)
	cats := 0
	for _, l := range c.Items {
		b.product(l.Product)
		cats += len(l.Product.Categories)
	}
	b.array = max(b.array, len(c.Items), cats)
}

// fits reports whether properties of size b are within the validator's
// limits whatever they hold, as validateProperties would find.
func (v *Validator) fits(b builtSize) bool {
	return b.str <= v.limits.MaxString && b.array <= v.limits.MaxArray &&
		v.limits.MaxDepth >= builtDepth && v.limits.MaxProperties >= builtMembers
}

// decodeInput decodes the input-form member raw (absent or null: "is
// required") into v, naming the fields below field in errors. Types and
// values are checked as strictly as the render API checks them, but
// members the inputs do not define are ignored, as the helper's plain
// build ignores them when it builds payloads in the browser: a page
// handing the helper its platform's product object (with variants,
// options, ...) must not lose its events in proxy mode only.
func decodeInput(raw json.RawMessage, v any, field string) error {
	if !present(raw) {
		return apperr.FieldErrorf(field, "is required")
	}
	if err := strictjson.DecodeWith(raw, v, skipVariants); err != nil {
		return apperr.PrefixField(field, err)
	}
	return nil
}

// skipVariants leaves a product's variants out of a browser's input: they
// feed the catalog sync only, no onsite event carries them, and a shop that
// hands its platform's product object over (numeric variant ids, prices as
// strings) must not have its event refused for them.
var skipVariants = jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, _ *[]shop.Variant) error {
	return dec.SkipValue()
}))

// eventUniqueID turns a builder's event id into a unique_id the proxy
// accepts: as it is when it fits, else a digest of it (a cart id may hold
// any character), which dedups just as well.
func eventUniqueID(id string) string {
	if len(id) <= 128 && uniqueIDRe.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sc-" + hex.EncodeToString(sum[:16])
}

// parseValue reads an event value: a plain JSON number of at most 32
// characters whose exponent, if any, is small. The limits keep a hostile
// "1e100000" from costing big-number arithmetic before it is refused.
func parseValue(raw []byte) (shop.Money, error) {
	if len(raw) > 32 || !numberRe.Match(raw) {
		return shop.Money{}, errors.New("must be a number such as 29.98")
	}
	if i := bytes.IndexAny(raw, "eE"); i >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(string(raw[i+1:]), "+"))
		if err != nil || exp > 12 || exp < -12 {
			return shop.Money{}, errors.New("must be a number such as 29.98")
		}
	}
	var m shop.Money
	if err := m.UnmarshalJSON(raw); err != nil {
		return shop.Money{}, errors.New("must be a number such as 29.98")
	}
	return m, nil
}

var numberRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// uniqueIDRe is what a unique_id may hold.
var uniqueIDRe = regexp.MustCompile(`^[A-Za-z0-9_.:\-]+$`)

func (v *Validator) allowedNames() []string {
	names := append([]string(nil), onsiteMetrics...)
	var custom []string
	for m := range v.allowed {
		if !slices.Contains(onsiteMetrics, m) {
			custom = append(custom, m)
		}
	}
	slices.Sort(custom)
	return append(names, custom...)
}

// maxKeyBytes is the longest property key accepted.
const maxKeyBytes = 256

// validateProperties checks the properties object against the limits and
// returns it compacted. Absent or null properties become {}.
//
// jsonscan.Scan checks an object in one pass without allocating and
// accepts only what walkProperties would; anything it does not decide
// itself (every error included) goes to walkProperties, which names the
// field at fault.
func (v *Validator) validateProperties(raw json.RawMessage, field string) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}"), nil
	}
	if raw[0] != '{' {
		return nil, apperr.FieldErrorf(field, "must be an object")
	}
	if sc := jsonscan.Scan(raw, v.scanLimits()); sc.OK {
		if !sc.Spaced {
			return raw, nil // already compact
		}
		var out bytes.Buffer
		if err := json.Compact(&out, raw); err != nil {
			return nil, apperr.FieldErrorf(field, "is not valid JSON")
		}
		return json.RawMessage(out.Bytes()), nil
	}
	return v.walkProperties(raw, field)
}

// scanLimits are the validator's limits in jsonscan's terms.
func (v *Validator) scanLimits() jsonscan.Limits {
	return jsonscan.Limits{
		MaxProperties: v.limits.MaxProperties,
		MaxDepth:      v.limits.MaxDepth,
		MaxArray:      v.limits.MaxArray,
		MaxString:     v.limits.MaxString,
		MaxKey:        maxKeyBytes,
	}
}

// walkProperties is validateProperties' general path: decode into any,
// walk it against the limits, compact; it names the field at fault.
func (v *Validator) walkProperties(raw json.RawMessage, field string) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var val any
	if err := dec.Decode(&val); err != nil {
		return nil, apperr.FieldErrorf(field, "is not valid JSON")
	}
	obj := val.(map[string]any)
	if len(obj) > v.limits.MaxProperties {
		return nil, apperr.FieldErrorf(field, "has %d keys; at most %d", len(obj), v.limits.MaxProperties)
	}
	if err := v.walk(val, field, 1); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, apperr.FieldErrorf(field, "is not valid JSON")
	}
	return json.RawMessage(out.Bytes()), nil
}

func (v *Validator) walk(val any, field string, depth int) error {
	switch x := val.(type) {
	case map[string]any:
		if depth > v.limits.MaxDepth {
			return apperr.FieldErrorf(field, "nests deeper than %d levels", v.limits.MaxDepth)
		}
		for k, c := range x {
			if len(k) > maxKeyBytes {
				return apperr.FieldErrorf(field, "has a key longer than 256 bytes")
			}
			if err := v.walk(c, field+"."+truncate(k, 64), depth+1); err != nil {
				return err
			}
		}
	case []any:
		if depth > v.limits.MaxDepth {
			return apperr.FieldErrorf(field, "nests deeper than %d levels", v.limits.MaxDepth)
		}
		if len(x) > v.limits.MaxArray {
			return apperr.FieldErrorf(field, "has %d items; at most %d", len(x), v.limits.MaxArray)
		}
		for i, c := range x {
			if err := v.walk(c, fmt.Sprintf("%s[%d]", field, i), depth+1); err != nil {
				return err
			}
		}
	case string:
		if len(x) > v.limits.MaxString {
			return apperr.FieldErrorf(field, "is longer than %d bytes", v.limits.MaxString)
		}
	case json.Number:
		if _, err := x.Float64(); err != nil {
			return apperr.FieldErrorf(field, "is a number out of range")
		}
	}
	return nil
}

// parseTime accepts an RFC 3339 string or a number of milliseconds since
// the Unix epoch (what Date.now() gives). Absent or null is the zero time.
// Errors name field.
func parseTime(raw json.RawMessage, field string) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, apperr.FieldErrorf(field, "must be an RFC 3339 time or milliseconds since 1970")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, apperr.FieldErrorf(field, "must be an RFC 3339 time or milliseconds since 1970")
		}
		return t.UTC().Truncate(time.Second), nil
	}
	var ms json.Number
	if err := json.Unmarshal(raw, &ms); err != nil {
		return time.Time{}, apperr.FieldErrorf(field, "must be an RFC 3339 time or milliseconds since 1970")
	}
	f, err := ms.Float64()
	if err != nil || f < 0 || f > 1e14 {
		return time.Time{}, apperr.FieldErrorf(field, "must be an RFC 3339 time or milliseconds since 1970")
	}
	return time.UnixMilli(int64(f)).UTC().Truncate(time.Second), nil
}

var (
	emailRe = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)
	phoneRe = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	kxRe    = regexp.MustCompile(`^[A-Za-z0-9_\-=.]+$`)
)

// normalizePhone puts c's phone in E.164 form with the shared
// shop.NormalizePhone ("+1 500 555 0006" → "+15005550006"), reading a
// national number in country (the shop's default: a browser names none).
// A number it cannot normalise is left out when c has another identifier
// (dropped reports it), and ok is false when it was the only one.
func normalizePhone(c *Claim, country string) (dropped, ok bool) {
	p, err := shop.NormalizePhone(c.PhoneNumber, country)
	if err != nil && (c.Email != "" || c.ExternalID != "") {
		p, err, dropped = "", nil, true
	}
	c.PhoneNumber = p
	return dropped, err == nil
}

// validateProfile checks what a browser says about its shopper. prefix is
// the JSON path of the object ("profile" in a batch, "" for identify).
// National phone numbers are not read in any country.
func validateProfile(w wireProfile, prefix string) (Claim, error) {
	c, _, err := validateProfileIn(w, prefix, "")
	return c, err
}

// validateProfileIn is validateProfile reading national phone numbers in
// country; dropped is the number left out, if any.
func validateProfileIn(w wireProfile, prefix, country string) (_ Claim, dropped DroppedPhone, _ error) {
	if w == (wireProfile{}) {
		return Claim{}, dropped, nil // what the checks below give it, in a comparison
	}
	f := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	c := Claim{
		Email:       strings.ToLower(strings.TrimSpace(w.Email)),
		PhoneNumber: strings.TrimSpace(w.PhoneNumber),
		ExternalID:  strings.TrimSpace(w.ExternalID),
		FirstName:   strings.TrimSpace(w.FirstName),
		LastName:    strings.TrimSpace(w.LastName),
	}
	if c.Email != "" && (len(c.Email) > 254 || !emailRe.MatchString(c.Email)) {
		return c, dropped, apperr.FieldErrorf(f("email"), "is not an email address")
	}
	if c.PhoneNumber != "" && !phoneRe.MatchString(c.PhoneNumber) {
		sent := c.PhoneNumber
		left, ok := normalizePhone(&c, country)
		if !ok {
			if country == "" {
				return c, dropped, apperr.FieldErrorf(f("phone_number"), "must be in E.164 form, such as +15005550006 (no SNIPPETD_DEFAULT_COUNTRY to read a national number in)")
			}
			return c, dropped, apperr.FieldErrorf(f("phone_number"), "is not a phone number in E.164 form or a national number of %s", country)
		}
		if left {
			dropped = DroppedPhone{Field: f("phone_number"), Number: sent}
		}
	}
	switch {
	case len(c.ExternalID) > 255 || strings.ContainsFunc(c.ExternalID, isControl):
		return c, dropped, apperr.FieldErrorf(f("external_id"), "must be at most 255 characters without control characters")
	case len(c.FirstName) > 255 || strings.ContainsFunc(c.FirstName, isControl):
		return c, dropped, apperr.FieldErrorf(f("first_name"), "must be at most 255 characters without control characters")
	case len(c.LastName) > 255 || strings.ContainsFunc(c.LastName, isControl):
		return c, dropped, apperr.FieldErrorf(f("last_name"), "must be at most 255 characters without control characters")
	}
	return c, dropped, nil
}

// validateKx checks an exchange id: Klaviyo's opaque
// "<urlsafe-base64>.<public key>" token.
func validateKx(kx, field string) (string, error) {
	kx = strings.TrimSpace(kx)
	if kx == "" {
		return "", nil
	}
	if len(kx) > 256 || !kxRe.MatchString(kx) {
		return "", apperr.FieldErrorf(field, "is not a Klaviyo exchange id")
	}
	return kx, nil
}

// prefixField turns decode errors into the proxy's: unknown fields that a
// browser might try on purpose get a precise message.
func prefixField(err error) error {
	e, ok := err.(*apperr.Error)
	if !ok {
		return err
	}
	if e.Message == "unknown field" {
		name := e.Field[strings.LastIndexByte(e.Field, '.')+1:] // profile._kx -> _kx
		switch name {
		case "backfill", "value_currency":
			return apperr.FieldErrorf(e.Field, "browsers may not set %s", name)
		case "_kx", "anonymous_id", "location":
			return apperr.FieldErrorf(e.Field, "is set by the server; browsers may not send it")
		}
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
