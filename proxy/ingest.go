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
	"github.com/snippetd/snippetd/internal/jsonw"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// OnsiteMetrics are the metrics a browser may always send through the
// proxy: the ones klaviyo.js and the onsite snippets produce. Everything
// else (Placed Order, Ordered Product, fulfilment, refunds, ...) is a
// server-side fact a browser must not be able to forge.
var OnsiteMetrics = []string{"Active on Site", "Viewed Product", "Added to Cart", "Started Checkout"}

// ServerMetrics are the metrics snippetd sends from the server. An operator
// cannot allow them as custom browser metrics (config validation refuses).
var ServerMetrics = []string{"Placed Order", "Ordered Product", "Fulfilled Order", "Cancelled Order", "Refunded Order"}

// Limits bound what one browser request may carry. They sit far below
// Klaviyo's own limits (5 MB payloads, 400 properties, 100 KB strings,
// 4,000-item arrays, depth 10) so that every accepted event also passes
// Klaviyo's validation.
type Limits struct {
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

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{
	MaxEvents:     50,
	MaxProperties: 400,
	MaxDepth:      10,
	MaxArray:      4000,
	MaxString:     100_000,
	MaxValueCents: 10_000_000_00,
	PastWindow:    time.Hour,
	FutureWindow:  5 * time.Minute,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
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
// it. Unknown fields are rejected. E is how its events are decoded: see
// decodeBatch.
type wireBatch[E any] struct {
	Events []E `json:"events"`
	// Profile is a value, not a pointer: an absent, null or empty profile
	// all validate to the empty claim, and a pointer cost an allocation.
	Profile wireProfile `json:"profile"`
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
//     (Added to Cart), cart (Started Checkout) — and the server builds
//     properties, value and, for Started Checkout, the unique id with
//     package snippets' builders, the ones the render API uses. The
//     helper's proxy build sends this form, so its payloads have one
//     source of truth and it carries no builders of its own.
//
// Backfill and ValueCurrency exist only so that sending them gets a
// precise 422 instead of "unknown field".
//
// P, C and A are how product, cart and added are decoded: kept as spans
// of the body (rawEvent), or decoded in the same pass as the rest
// (fastEvent); see decodeBatch.
type wireEvent[P, C, A any] struct {
	Metric        string `json:"metric"`
	Properties    span   `json:"properties"`
	Time          span   `json:"time"`
	UniqueID      string `json:"unique_id"`
	Value         span   `json:"value"`
	Product       P      `json:"product"`
	Cart          C      `json:"cart"`
	Added         A      `json:"added"`
	Backfill      span   `json:"backfill"`
	ValueCurrency span   `json:"value_currency"`
}

type (
	rawEvent  = wireEvent[span, span, span]
	fastEvent = wireEvent[input[shop.Product], input[shop.Cart], input[shop.LineItem]]
)

// event is a decoded wireEvent as validateEvent reads it: each member
// the bytes the body holds for it (nil when absent, "null" when null),
// and the inputs already decoded when decodeBatch's one pass did so.
type event struct {
	Metric, UniqueID                              string
	Properties, Time, Value, Product, Cart, Added json.RawMessage
	Backfill, ValueCurrency                       json.RawMessage
	product                                       *shop.Product
	cart                                          *shop.Cart
	added                                         *shop.LineItem
}

// span is where a member's value lies in the body being decoded (the
// decoder's input): a json.RawMessage without the copy.
type span struct {
	start, end int64
	set        bool
}

// UnmarshalJSONFrom records where the next value lies.
func (s *span) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	val, err := dec.ReadValue()
	if err != nil {
		return err
	}
	s.end = dec.InputOffset()
	s.start, s.set = s.end-int64(len(val)), true
	return nil
}

// in returns the member's bytes in body, nil when it was absent.
func (s span) in(body []byte) json.RawMessage {
	if !s.set {
		return nil
	}
	// An input's span starts after its member name: skip the ':' (and
	// the whitespace bytes.TrimLeft would, without building its set).
	i := s.start
	for i < s.end && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n' || body[i] == ':') {
		i++
	}
	return body[i:s.end]
}

// input is an input-form member decoded as decodeInput decodes it
// (members the input does not define ignored) within the batch's own
// pass, and its span.
type input[T any] struct {
	span
	v *T // nil until decoded
}

// UnmarshalJSONFrom decodes the next value into in.v; null is recorded
// as a span (not sent, as present says).
func (in *input[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == 'n' {
		return in.span.UnmarshalJSONFrom(dec)
	}
	in.start = dec.InputOffset() // after the member name: see span.in
	in.v = new(T)
	if err := jsonv2.UnmarshalDecode(dec, in.v, jsonv2.RejectUnknownMembers(false)); err != nil {
		return err
	}
	in.end, in.set = dec.InputOffset(), true
	return nil
}

// decodeBatch decodes a batch body in one pass, the input-form members
// included: fastDecodeBatch's when it reads the body, else the v2
// decoder's. The one pass is stricter than what validateEvent needs (an
// input it would refuse anyway, or never read, must decode too), so when
// it fails for any reason the body is decoded again with the inputs kept
// as spans, and validateEvent decodes them in its own order: errors stay
// those of the decoder that read the inputs one by one
// (TestDecodeBatchAgrees and FuzzDecodeBatch hold it to that decoder).
func decodeBatch(body []byte) (wireBatch[fastEvent], error) {
	if w, ok := fastDecodeBatch(body); ok {
		return w, nil
	}
	var fast wireBatch[fastEvent]
	if strictjson.Decode(body, &fast) == nil {
		return fast, nil
	}
	var w wireBatch[rawEvent]
	if err := strictjson.Decode(body, &w); err != nil {
		return fast, prefixField(err)
	}
	fast = wireBatch[fastEvent]{Profile: w.Profile, Kx: w.Kx, Consent: w.Consent}
	if w.Events != nil {
		fast.Events = make([]fastEvent, len(w.Events))
	}
	for i, r := range w.Events {
		fast.Events[i] = fastEvent{
			Metric: r.Metric, Properties: r.Properties, Time: r.Time, UniqueID: r.UniqueID, Value: r.Value,
			Product: input[shop.Product]{span: r.Product}, Cart: input[shop.Cart]{span: r.Cart}, Added: input[shop.LineItem]{span: r.Added},
			Backfill: r.Backfill, ValueCurrency: r.ValueCurrency,
		}
	}
	return fast, nil
}

// eventOf is validateEvent's view of f, an event of body.
func eventOf(f *fastEvent, body []byte) event {
	return event{
		Metric: f.Metric, UniqueID: f.UniqueID,
		Properties: f.Properties.in(body), Time: f.Time.in(body), Value: f.Value.in(body),
		Product: f.Product.in(body), Cart: f.Cart.in(body), Added: f.Added.in(body),
		Backfill: f.Backfill.in(body), ValueCurrency: f.ValueCurrency.in(body),
		product: f.Product.v, cart: f.Cart.v, added: f.Added.v,
	}
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
	wireProfile
	Profile *wireProfile `json:"profile"`
	Kx      string       `json:"kx"`
	Consent *bool        `json:"consent"`
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

// Event is one validated browser event, before identity is attached.
type Event struct {
	Metric     string
	Properties json.RawMessage // a compact JSON object
	Time       time.Time       // UTC, whole seconds
	UniqueID   string          // empty when the browser sent none
	Value      shop.Money
}

// Batch is a validated POST {prefix}e body.
type Batch struct {
	Events  []Event
	Profile Claim
	Kx      string
	Consent bool
}

// Identify is a validated POST {prefix}i body.
type Identify struct {
	Claim
	Kx      string
	Consent bool
}

// Validator decodes and checks browser input. It holds the allowed metric
// names and limits; it does no I/O, so the fuzz target drives it directly.
type Validator struct {
	allowed map[string]bool
	limits  Limits
	// eventFields are "events[0]", "events[1]", ...: the names errors
	// give the events of a batch, formatted once.
	eventFields []string
}

// NewValidator returns a Validator accepting the onsite metrics plus custom
// (operator-allowed names; server-side metrics among them are ignored —
// config validation refuses them earlier).
func NewValidator(custom []string, limits Limits) *Validator {
	v := &Validator{allowed: map[string]bool{}, limits: limits.withDefaults()}
	for i := range min(v.limits.MaxEvents, 256) {
		v.eventFields = append(v.eventFields, fmt.Sprintf("events[%d]", i))
	}
	for _, m := range OnsiteMetrics {
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
	for _, s := range ServerMetrics {
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
	w, err := decodeBatch(body)
	if err != nil {
		return Batch{}, err
	}
	var b Batch
	if w.Events == nil {
		return b, apperr.FieldErrorf("events", "is required")
	}
	if len(w.Events) == 0 {
		return b, apperr.FieldErrorf("events", "must hold at least one event")
	}
	if len(w.Events) > v.limits.MaxEvents {
		return b, apperr.FieldErrorf("events", "holds %d events; at most %d per request", len(w.Events), v.limits.MaxEvents)
	}
	c, err := validateProfile(w.Profile, "profile")
	if err != nil {
		return b, err
	}
	b.Profile = c
	kx, err := validateKx(w.Kx, "kx")
	if err != nil {
		return b, err
	}
	b.Kx = kx
	b.Consent = w.Consent != nil && *w.Consent
	var seen map[string]int // metric and unique id -> first event; one event cannot repeat
	if len(w.Events) > 1 {
		seen = map[string]int{}
	}
	for i := range w.Events {
		field := v.eventField(i)
		e, derived, err := v.validateEvent(eventOf(&w.Events[i], body), field, now)
		if err != nil {
			return b, err
		}
		if e.UniqueID != "" && seen != nil {
			key := e.Metric + "\x00" + e.UniqueID
			if j, dup := seen[key]; dup {
				if derived {
					// A second Started Checkout of the same cart in the
					// same second is the same checkout: Klaviyo would keep
					// the first one only, so it is dropped here.
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

// eventField names the i-th event of a batch in errors.
func (v *Validator) eventField(i int) string {
	if i < len(v.eventFields) {
		return v.eventFields[i]
	}
	return fmt.Sprintf("events[%d]", i)
}

// DecodeIdentify decodes and validates a POST {prefix}i body.
func (v *Validator) DecodeIdentify(body []byte) (Identify, error) {
	var w wireIdentify
	if err := strictjson.Decode(body, &w); err != nil {
		return Identify{}, prefixField(err)
	}
	prof, prefix := w.wireProfile, ""
	if w.Profile != nil {
		if w.wireProfile != (wireProfile{}) {
			return Identify{}, apperr.FieldErrorf("profile", "send the identify fields at the top level or inside profile, not both")
		}
		prof, prefix = *w.Profile, "profile"
	}
	c, err := validateProfile(prof, prefix)
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
	return Identify{Claim: c, Kx: kx, Consent: w.Consent != nil && *w.Consent}, nil
}

// validateEvent checks one event; derived reports that its unique id was
// built by the server (input-form Started Checkout) rather than sent.
func (v *Validator) validateEvent(w event, field string, now time.Time) (e Event, derived bool, err error) {
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

	sent, err := parseTime(w.Time, field)
	if err != nil {
		return e, false, err
	}
	now = now.UTC().Truncate(time.Second)
	e.Time = sent
	if sent.IsZero() || sent.Before(now.Add(-v.limits.PastWindow)) || sent.After(now.Add(v.limits.FutureWindow)) {
		e.Time = now
	}

	if w.UniqueID != "" {
		if len(w.UniqueID) > 128 || !isUniqueID(w.UniqueID) {
			return e, false, apperr.FieldErrorf(field+".unique_id", "must be 1 to 128 letters, digits or -_.:")
		}
		e.UniqueID = w.UniqueID
	}

	if present(w.Product) || present(w.Cart) || present(w.Added) {
		if sent.IsZero() {
			sent = now
		}
		derived, err = v.buildEvent(&e, w, field, sent)
		return e, derived, err
	}

	props, err := v.checkProperties(w.Properties, field, "properties")
	if err != nil {
		return e, false, err
	}
	e.Properties = props

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
// from an input-form event with package snippets' builders, as the render
// API would build the push for the same inputs: value is the builder's
// $value and unique_id its $event_id (the cart id and the unix second of
// at, the time the browser sent or else now; it replaces any unique_id
// sent, so that one checkout is one event however often it is sent),
// neither left inside the properties — the same split the helper made
// when it built properties itself. (Viewed Product's properties, which
// hold neither, are appended by appendViewedProduct, the same bytes.)
// Errors name the input field ("events[0].cart.items[1].quantity").
func (v *Validator) buildEvent(e *Event, w event, field string, at time.Time) (derived bool, err error) {
	switch {
	case present(w.Properties):
		return false, apperr.FieldErrorf(field+".properties", "cannot be sent with product, cart or added: the server builds the properties from them")
	case present(w.Value):
		return false, apperr.FieldErrorf(field+".value", "cannot be sent with product, cart or added: the server computes the value from them")
	}
	// wrongInput names the first input the metric does not take.
	wrongInput := func(takes string, names ...string) error {
		for i, raw := range []json.RawMessage{w.Product, w.Cart, w.Added} {
			if name := [...]string{"product", "cart", "added"}[i]; present(raw) && !slices.Contains(names, name) {
				return apperr.FieldErrorf(field+"."+name, "is not an input of %s, which takes %s", e.Metric, takes)
			}
		}
		return nil
	}
	var (
		pushes []snippets.Push
		props  []byte        // Viewed Product's, built without a push
		viewed *shop.Product // and its product
	)
	switch e.Metric {
	case "Viewed Product":
		if err := wrongInput("product", "product"); err != nil {
			return false, err
		}
		p, derr := decodeInput(w.product, w.Product, field, "product")
		if derr != nil {
			return false, derr
		}
		// ViewedProductPushes' check, and its track push's properties.
		if err = p.Validate("product"); err == nil {
			props, viewed = appendViewedProduct(make([]byte, 0, viewedProductSize(p)), p), p
		}
	case "Added to Cart":
		if err := wrongInput("cart and added", "cart", "added"); err != nil {
			return false, err
		}
		c, derr := decodeInput(w.cart, w.Cart, field, "cart")
		if derr != nil {
			return false, derr
		}
		added, derr := decodeInput(w.added, w.Added, field, "added")
		if derr != nil {
			return false, derr
		}
		pushes, err = snippets.AddedToCartPushes(*c, *added)
	case "Started Checkout":
		if err := wrongInput("cart", "cart"); err != nil {
			return false, err
		}
		c, derr := decodeInput(w.cart, w.Cart, field, "cart")
		if derr != nil {
			return false, derr
		}
		pushes, err = snippets.StartedCheckoutPushes(*c, at)
	default:
		return false, wrongInput("properties: product, cart and added are inputs of Viewed Product, Added to Cart and Started Checkout only")
	}
	if err != nil {
		return false, apperr.PrefixField(field, err)
	}

	// The first push is ["track", metric, properties]: copy the properties
	// member by member, taking $value and $event_id out (they become the
	// event's value and unique id), without decoding the rest.
	var value, eventID []byte
	if props == nil {
		if props, value, eventID, err = splitTrack(pushes[0]); err != nil {
			return false, fmt.Errorf("proxy: builder push %s: %w", pushes[0], err)
		}
	}
	input := "product" // the input errors name: field + "." + input
	if e.Metric != "Viewed Product" {
		input = "cart"
	}
	if value != nil {
		var m shop.Money
		if err := m.UnmarshalJSON(value); err != nil {
			return false, fmt.Errorf("proxy: builder $value %s: %w", value, err)
		}
		if err := v.checkValue(m, field+"."+input); err != nil {
			return false, apperr.FieldErrorf(field+"."+input, "totals %s: the event value %s", m, apperr.ErrorMessage(err))
		}
		e.Value = m
	}
	if eventID != nil {
		var id string
		if err := json.Unmarshal(eventID, &id); err != nil {
			return false, fmt.Errorf("proxy: builder $event_id %s: %w", eventID, err)
		}
		e.UniqueID = eventUniqueID(id)
		derived = true
	}
	// The inputs' sizes are the browser's: the built properties must still
	// pass the limits every event is held to.
	if viewed != nil && v.viewedProductFits(viewed) {
		e.Properties = props // what checkProperties would return
		return derived, nil
	}
	built, err := v.checkProperties(json.RawMessage(props), field, "properties")
	if err != nil {
		return false, apperr.FieldErrorf(field+"."+input, "gives properties over the limits (%s: %s)", apperr.ErrorField(err), apperr.ErrorMessage(err))
	}
	e.Properties = built
	return derived, nil
}

// appendViewedProduct appends the properties of the track push of
// snippets.ViewedProductPushes(*p) — byte for byte (TestViewedProduct and
// FuzzViewedProduct hold it to the builder) — without building the push,
// its trackViewedItem push and splitting them again: Viewed Product is
// most of a shop's events. p must validate.
func appendViewedProduct(b []byte, p *shop.Product) []byte {
	b = append(b, `{"ProductName":`...)
	b = jsonw.AppendString(b, p.Name)
	b = append(b, `,"ProductID":`...)
	b = jsonw.AppendString(b, p.ID)
	if p.SKU != "" {
		b = append(b, `,"SKU":`...)
		b = jsonw.AppendString(b, p.SKU)
	}
	if len(p.Categories) > 0 {
		b = append(b, `,"Categories":`...)
		b = jsonw.AppendStrings(b, p.Categories)
	}
	if p.ImageURL != "" {
		b = append(b, `,"ImageURL":`...)
		b = jsonw.AppendString(b, p.ImageURL)
	}
	if p.URL != "" {
		b = append(b, `,"URL":`...)
		b = jsonw.AppendString(b, p.URL)
	}
	if p.Brand != "" {
		b = append(b, `,"Brand":`...)
		b = jsonw.AppendString(b, p.Brand)
	}
	b = append(b, `,"Price":`...)
	b = p.Price.AppendText(b)
	if p.CompareAtPrice.IsSet() {
		b = append(b, `,"CompareAtPrice":`...)
		b = p.CompareAtPrice.AppendText(b)
	}
	return append(b, '}')
}

// viewedProductFits reports that appendViewedProduct's properties for p
// certainly pass checkProperties, which then returns them as they are
// (they are compact): at most 9 keys, nesting 2, every string within
// MaxString once decoded (an invalid byte decodes to 3), Categories
// within MaxArray. TestViewedProductFits holds it to checkProperties.
func (v *Validator) viewedProductFits(p *shop.Product) bool {
	l := &v.limits
	if l.MaxProperties < 9 || l.MaxDepth < 2 || len(p.Categories) > l.MaxArray {
		return false
	}
	n := max(len(p.Name), len(p.ID), len(p.SKU), len(p.ImageURL), len(p.URL), len(p.Brand))
	for _, c := range p.Categories {
		n = max(n, len(c))
	}
	return 3*n <= l.MaxString
}

// viewedProductSize is appendViewedProduct's length for p when no string
// needs an escape (money at its longest).
func viewedProductSize(p *shop.Product) int {
	const money = 21 // 92233720368547758.07, and a sign
	n := len(`{"ProductName":"","ProductID":"","Price":}`) + len(p.Name) + len(p.ID) + money
	if p.SKU != "" {
		n += len(`,"SKU":""`) + len(p.SKU)
	}
	if len(p.Categories) > 0 {
		n += len(`,"Categories":[]`)
		for _, c := range p.Categories {
			n += len(c) + 3
		}
	}
	if p.ImageURL != "" {
		n += len(`,"ImageURL":""`) + len(p.ImageURL)
	}
	if p.URL != "" {
		n += len(`,"URL":""`) + len(p.URL)
	}
	if p.Brand != "" {
		n += len(`,"Brand":""`) + len(p.Brand)
	}
	if p.CompareAtPrice.IsSet() {
		n += len(`,"CompareAtPrice":`) + money
	}
	return n
}

// splitTrack returns the properties object of a ["track", metric,
// properties] push without its $value and $event_id members, and those
// two raw values (nil when absent). The push is the builder's own JSON,
// so a small scanner reads it: it checks the shape it relies on and skips
// each member's value by its brackets and strings; the properties' full
// validity is validateProperties' to check (it scans them next), the two
// values' their parsers'. (A jsontext.Decoder did the same with a dozen
// allocations per event.)
func splitTrack(push []byte) (props, value, eventID []byte, err error) {
	s := pushScanner{b: push}
	// [ "track" , metric , {
	if !s.byte('[') || !s.str() || !s.byte(',') || !s.str() || !s.byte(',') || !s.byte('{') {
		return nil, nil, nil, fmt.Errorf("not a track push at offset %d", s.i)
	}
	open := s.i - 1
	// out stays nil until a member is taken out: until then the
	// properties are push[open:s.i] as they are (Viewed Product has
	// neither member, and so costs no copy).
	var out []byte
	kept := s.i // end of the last member kept while out is nil
	if !s.byte('}') {
		for {
			s.space()
			start := s.i
			if !s.str() {
				return nil, nil, nil, fmt.Errorf("want a member name at offset %d", start)
			}
			name := push[start:s.i]
			if !s.byte(':') {
				return nil, nil, nil, fmt.Errorf("want ':' at offset %d", s.i)
			}
			s.space()
			start = s.i
			if !s.value() {
				return nil, nil, nil, fmt.Errorf("want a value at offset %d", start)
			}
			val := push[start:s.i]
			switch string(name) {
			case `"$value"`, `"$event_id"`:
				if string(name) == `"$value"` {
					value = val
				} else {
					eventID = val
				}
				if out == nil {
					out = append(make([]byte, 0, len(push)), push[open:kept]...)
				}
			default:
				if out == nil {
					kept = s.i
					break
				}
				if len(out) > 1 {
					out = append(out, ',')
				}
				out = append(append(append(out, name...), ':'), val...)
			}
			if s.byte(',') {
				continue
			}
			if s.byte('}') {
				break
			}
			return nil, nil, nil, fmt.Errorf("want ',' or '}' at offset %d", s.i)
		}
	}
	if out == nil {
		return push[open:s.i], value, eventID, nil
	}
	return append(out, '}'), value, eventID, nil
}

// pushScanner is splitTrack's reader.
type pushScanner struct {
	b []byte
	i int
}

func (s *pushScanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// byte consumes c after optional whitespace.
func (s *pushScanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string, escapes included, after optional whitespace.
func (s *pushScanner) str() bool {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false
	}
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return true
		}
	}
	return false
}

// value consumes one value: a string, an object or array up to its
// closing bracket, or a number or literal up to the next delimiter.
func (s *pushScanner) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		return s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if !s.str() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	}
	start := s.i
	for s.i < len(s.b) && !strings.ContainsRune(",}] \t\n\r", rune(s.b[s.i])) {
		s.i++
	}
	return s.i > start
}

// decodeInput returns input-form member name of event field: decoded,
// when decodeBatch's one pass decoded it, else decoded from raw, naming
// the fields below it in errors.
// Types and values are checked as strictly as the render API checks them,
// but members the inputs do not define are ignored, as the helper's
// plain build ignores them when it builds payloads in the browser: a page
// handing the helper its platform's product object (with variants,
// options, ...) must not lose its events in proxy mode only.
func decodeInput[T any](decoded *T, raw json.RawMessage, event, name string) (*T, error) {
	if decoded != nil {
		return decoded, nil
	}
	if !present(raw) {
		return nil, apperr.FieldErrorf(event+"."+name, "is required")
	}
	v := new(T)
	if err := strictjson.DecodeWith(raw, v); err != nil {
		return nil, apperr.PrefixField(event+"."+name, err)
	}
	return v, nil
}

// eventUniqueID turns a builder's $event_id into a unique_id the proxy
// accepts: as it is when it fits, else a digest of it (a cart id may hold
// any character), which dedups just as well.
func eventUniqueID(id string) string {
	if len(id) <= 128 && isUniqueID(id) {
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

// isUniqueID reports whether s is a non-empty run of letters, digits and
// _.:- (the regular expression ^[A-Za-z0-9_.:\-]+$, without its engine).
func isUniqueID(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return s != ""
}

func (v *Validator) allowedNames() []string {
	names := append([]string(nil), OnsiteMetrics...)
	var custom []string
	for m := range v.allowed {
		if !contains(OnsiteMetrics, m) {
			custom = append(custom, m)
		}
	}
	slices.Sort(custom)
	return append(names, custom...)
}

// validateProperties checks the properties object against the limits and
// returns it compacted. Absent or null properties become {}.
func (v *Validator) validateProperties(raw json.RawMessage, field string) (json.RawMessage, error) {
	return v.checkProperties(raw, field, "")
}

// checkProperties is validateProperties for the field base.member (base
// when member is ""), joined only when an error names it.
func (v *Validator) checkProperties(raw json.RawMessage, base, member string) (json.RawMessage, error) {
	field := func() string {
		if member == "" {
			return base
		}
		return base + "." + member
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}"), nil
	}
	if raw[0] != '{' {
		return nil, apperr.FieldErrorf(field(), "must be an object")
	}
	// Fast path: one pass over the bytes, no allocation. It accepts only
	// what the walker below would accept; anything else (including every
	// error) goes to the walker, which names the field.
	if sc := jsonscan.Scan(raw, v.scanLimits()); sc.OK {
		if !sc.Spaced {
			return raw, nil // already compact
		}
		var out bytes.Buffer
		out.Grow(len(raw))
		if err := json.Compact(&out, raw); err != nil {
			return nil, apperr.FieldErrorf(field(), "is not valid JSON")
		}
		return json.RawMessage(out.Bytes()), nil
	}
	return v.walkProperties(raw, field())
}

// walkProperties is validateProperties' slow path: decode into any, walk
// it against the limits, compact.
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
// Errors name event's time member.
func parseTime(raw json.RawMessage, event string) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, apperr.FieldErrorf(event+".time", "must be an RFC 3339 time or milliseconds since 1970")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, apperr.FieldErrorf(event+".time", "must be an RFC 3339 time or milliseconds since 1970")
		}
		return t.UTC().Truncate(time.Second), nil
	}
	var ms json.Number
	if err := json.Unmarshal(raw, &ms); err != nil {
		return time.Time{}, apperr.FieldErrorf(event+".time", "must be an RFC 3339 time or milliseconds since 1970")
	}
	f, err := ms.Float64()
	if err != nil || f < 0 || f > 1e14 {
		return time.Time{}, apperr.FieldErrorf(event+".time", "must be an RFC 3339 time or milliseconds since 1970")
	}
	return time.UnixMilli(int64(f)).UTC().Truncate(time.Second), nil
}

var (
	emailRe = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)
	phoneRe = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	kxRe    = regexp.MustCompile(`^[A-Za-z0-9_\-=.]+$`)
)

// validateProfile checks what a browser says about its shopper. prefix is
// the JSON path of the object ("profile" in a batch, "" for identify).
func validateProfile(w wireProfile, prefix string) (Claim, error) {
	if w == (wireProfile{}) {
		return Claim{}, nil // what the checks below give it, in a comparison
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
	switch {
	case c.Email != "" && (len(c.Email) > 254 || !emailRe.MatchString(c.Email)):
		return c, apperr.FieldErrorf(f("email"), "is not an email address")
	case c.PhoneNumber != "" && !phoneRe.MatchString(c.PhoneNumber):
		return c, apperr.FieldErrorf(f("phone_number"), "must be in E.164 form, such as +15005550006")
	case len(c.ExternalID) > 255 || strings.ContainsFunc(c.ExternalID, isControl):
		return c, apperr.FieldErrorf(f("external_id"), "must be at most 255 characters without control characters")
	case len(c.FirstName) > 255 || strings.ContainsFunc(c.FirstName, isControl):
		return c, apperr.FieldErrorf(f("first_name"), "must be at most 255 characters without control characters")
	case len(c.LastName) > 255 || strings.ContainsFunc(c.LastName, isControl):
		return c, apperr.FieldErrorf(f("last_name"), "must be at most 255 characters without control characters")
	}
	return c, nil
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
