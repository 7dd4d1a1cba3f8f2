// Package proxy is snippetd's optional first-party proxy: browser events
// and identify calls sent to the shop's own domain ({prefix}e, {prefix}i)
// instead of to Klaviyo, so that ad blockers that remove klaviyo.js do not
// remove the events with it, and klaviyo.js itself served from the shop's
// domain ({prefix}k.js).
//
// It owns the browser-facing rules: which metrics a browser may send,
// limits, the origin allow-list, per-client rate limits, consent, and
// identity (the __kla_id cookie's exchange id, the landing page's _kx, and
// an earlier identify remembered per browser in the shared database).
// Accepted events become klaviyo.Event values and go into the outbox; the
// private key stays on the server. Its handlers are plain net/http
// handlers mounted on a gorilla/mux router (Routes); more capacity comes
// from more instances on the shared database, not from this package.
package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/shop"
	"golang.org/x/time/rate"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/metrics"
)

// Enqueuer is the part of the outbox the proxy needs: Enqueue returns only
// after the events are committed, so a 202 means stored.
type Enqueuer interface {
	Enqueue(ctx context.Context, events []klaviyo.Event) error
}

// EnqueueFunc adapts a function to Enqueuer.
type EnqueueFunc func(ctx context.Context, events []klaviyo.Event) error

// Enqueue calls f.
func (f EnqueueFunc) Enqueue(ctx context.Context, events []klaviyo.Event) error {
	return f(ctx, events)
}

// Options are the operator's settings for the proxy (see config).
type Options struct {
	// Prefix is the path the routes live under, with leading and trailing
	// slash (default "/s/").
	Prefix string
	// AllowedOrigins are the storefront origins (scheme://host[:port]) whose
	// pages may post events; requests from any other Origin/Referer get 403.
	AllowedOrigins []string
	// TrustedProxies are the CIDRs of reverse proxies whose X-Forwarded-For
	// and X-Forwarded-Proto are believed.
	TrustedProxies []netip.Prefix
	// CustomMetrics are metric names the operator allows beside the onsite
	// ones.
	CustomMetrics []string
	// Limits bound each event batch.
	Limits EventLimits
	// MaxBodyBytes caps a request body (default 64 KiB).
	MaxBodyBytes int64
	// Rate and Burst are the per-client-IP request rate (default 5/s, burst
	// 20); MaxClients bounds the rate limiter's memory (default 100,000).
	Rate       rate.Limit
	Burst      int
	MaxClients int
	// KeepAnonymous keeps events from browsers with no identifier, with
	// anonymous_id set to the browser id; by default they are dropped.
	KeepAnonymous bool
	// RequireConsent drops (and counts) events and identifies whose body
	// does not carry "consent": true.
	RequireConsent bool
	// Metrics counts accepted and refused events for GET /metrics
	// (default metrics.Nop).
	Metrics metrics.BrowserEvents
	// Carts gives the carts of Added to Cart and Started Checkout events a
	// restore link as CheckoutURL (package carts; nil: kept as sent).
	Carts Carts
	// Subscriber takes {prefix}subscribe and {prefix}back-in-stock
	// (subscribe.go; nil: those routes are not mounted).
	Subscriber Subscriber
	// Products counts the product ids of the events stored (package
	// catalog; nil: not counted).
	Products Products
	// DefaultCountry (ISO 3166 alpha-2, SNIPPETD_DEFAULT_COUNTRY) reads the
	// national phone numbers browsers send; empty: such a number is not
	// guessed but left out (refused when it is the only identifier).
	DefaultCountry string
	// Phones, when set, counts the phone numbers left out (source
	// "proxy") and shows each one (the inspector); see PhoneDrops.
	Phones PhoneDrops
}

// Products is what the proxy needs of a product catalog: it counts the ids
// events name that it lacks, since Klaviyo joins events to the catalog by
// id.
type Products interface {
	// Configured reports whether ids are counted now; the proxy collects
	// them only then.
	Configured() bool
	// Observe counts one product id an event stored names.
	Observe(productID string)
}

// PhoneDrops is told of each phone number a browser sent that could not be
// normalised to E.164 and was left out of the profile.
type PhoneDrops interface {
	PhoneDropped(source, field, number string)
}

// Carts is what the proxy needs of cart restore links. The link is a
// restore URL on snippetd's own public URL, never a browser-given one.
type Carts interface {
	// LinkCart sets c.CheckoutURL to c's restore link when it should have
	// one, without I/O, and reports whether it did.
	LinkCart(c *shop.Cart, now time.Time) bool
	// RememberCarts stores linked carts; it runs before their events are
	// enqueued, so no stored event links a cart that was not kept.
	RememberCarts(ctx context.Context, carts []shop.Cart, now time.Time) error
}

// Stats counts what the proxy did since start.
type Stats struct {
	Accepted         atomic.Int64 // events enqueued
	Identified       atomic.Int64 // identify calls stored
	DroppedConsent   atomic.Int64 // events and identifies dropped for missing consent
	DroppedAnonymous atomic.Int64 // events dropped for having no identifier
	Rejected         atomic.Int64 // requests answered 4xx
}

// Proxy serves the proxy's routes. Build it with New.
type Proxy struct {
	opts      Options
	validator *Validator
	store     *Store
	outbox    Enqueuer
	script    *Script
	logger    *slog.Logger
	limiter   *Limiter
	origins   map[string]bool // the allowed origins, normalized
	now       func() time.Time

	// Stats are the proxy's counters.
	Stats Stats
}

// New returns a Proxy. store keeps browser identities, outbox receives the
// events, script serves klaviyo.js (nil leaves {prefix}k.js unmounted),
// logger receives storage failures (nil discards them). The options are
// trusted as config validated them; each allowed origin is normalized
// (NormalizeOrigin) to compare with the requests'.
func New(opts Options, store *Store, outbox Enqueuer, script *Script, logger *slog.Logger) *Proxy {
	if opts.Prefix == "" {
		opts.Prefix = "/s/"
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if opts.Rate <= 0 {
		opts.Rate = 5
	}
	if opts.Burst <= 0 {
		opts.Burst = 20
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = 100_000
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.Nop{}
	}
	p := &Proxy{
		opts:      opts,
		validator: NewValidator(opts.CustomMetrics, opts.Limits),
		store:     store,
		outbox:    outbox,
		script:    script,
		logger:    logger,
		limiter:   &Limiter{Rate: opts.Rate, Burst: opts.Burst, Max: opts.MaxClients, Idle: 10 * time.Minute},
		origins:   map[string]bool{},
		now:       time.Now,
	}
	p.validator.carts = opts.Carts
	p.validator.products = opts.Products
	p.validator.country = opts.DefaultCountry
	for _, o := range opts.AllowedOrigins {
		if n := NormalizeOrigin(o); n != "" {
			p.origins[n] = true
		}
	}
	p.validator.checkoutOrigins = p.origins
	return p
}

// Routes registers the proxy's routes on r; this is the one place their
// paths are named.
func (p *Proxy) Routes(r *mux.Router) {
	r.HandleFunc(p.opts.Prefix+"e", p.handleEvents).Methods("POST")
	r.HandleFunc(p.opts.Prefix+"i", p.handleIdentify).Methods("POST")
	r.HandleFunc(p.opts.Prefix+"forget", p.handleForget).Methods("POST")
	r.HandleFunc(p.opts.Prefix+"e", p.handlePreflight).Methods("OPTIONS")
	r.HandleFunc(p.opts.Prefix+"i", p.handlePreflight).Methods("OPTIONS")
	r.HandleFunc(p.opts.Prefix+"forget", p.handlePreflight).Methods("OPTIONS")
	p.subscribeRoutes(r)
	if p.script != nil {
		r.HandleFunc(p.opts.Prefix+"k.js", p.handleScript).Methods("GET", "HEAD")
	}
}

// result is the JSON body of a 202.
type result struct {
	Accepted int `json:"accepted"`
	Dropped  int `json:"dropped"`
	// Reason says why events were dropped: "consent" or "anonymous".
	Reason string `json:"reason,omitempty"`
}

// logStoreError logs a failure to store what a request carried: an error,
// unless the client went away while it waited for the commit (a tab
// closing) — then the write may still complete, and a resend is
// deduplicated by its unique id.
func (p *Proxy) logStoreError(r *http.Request, msg string, err error) {
	if r.Context().Err() != nil {
		p.logger.Debug(msg+": client went away before the commit", "err", err)
		return
	}
	p.logger.Error(msg, "err", err)
}

// fail answers err through the error funnel and counts a refusal.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away: nobody to answer and nothing to log as
		// an internal error.
		err = apperr.Errorf(apperr.EUNAVAILABLE, "request canceled")
	}
	if reason := rejectReason(err); reason != "" {
		p.Stats.Rejected.Add(1)
		p.opts.Metrics.ObserveRejected("proxy", reason, 1)
	}
	httpx.Error(w, r, p.logger, err)
}

// admit runs the checks every browser POST passes before its body is read:
// the origin allow-list (with CORS headers for allowed origins) and the
// per-client rate limit. It returns the client IP.
func (p *Proxy) admit(w http.ResponseWriter, r *http.Request) (netip.Addr, error) {
	origin := requestOrigin(r)
	if origin == "" {
		return netip.Addr{}, apperr.Errorf(apperr.EFORBIDDEN, "requests need an Origin or Referer header from an allowed storefront")
	}
	if !p.origins[origin] {
		return netip.Addr{}, apperr.Errorf(apperr.EFORBIDDEN, "origin %s is not allowed (SNIPPETD_ALLOWED_ORIGINS)", truncate(origin, 100))
	}
	cors(w, origin)
	ip := ClientIP(r, p.opts.TrustedProxies)
	if ok, wait := p.limiter.Allow(limiterKey(ip), p.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		return ip, apperr.Errorf(apperr.ERATELIMIT, "too many requests from this client; retry after %d s", retryAfterSeconds(wait))
	}
	return ip, nil
}

// cors allows an allowed origin to read the answer and send credentials
// (the sd_bid cookie).
func cors(w http.ResponseWriter, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
}

// rejectReason is the metrics token for a refused request, "" for
// failures that are the server's.
func rejectReason(err error) string {
	switch apperr.ErrorCode(err) {
	case apperr.EFORBIDDEN:
		return "bad_origin"
	case apperr.ERATELIMIT:
		return "rate_limited"
	case apperr.ETOOLARGE:
		return "too_large"
	case apperr.EUNSUPPORTED:
		return "content_type"
	case apperr.EBADREQUEST:
		return "malformed"
	case apperr.EINVALID:
		if strings.HasSuffix(apperr.ErrorField(err), ".metric") {
			return "forbidden_metric"
		}
		return "invalid"
	case "method_not_allowed", apperr.ENOTFOUND:
		return "malformed"
	}
	return ""
}

// handlePreflight serves OPTIONS {prefix}e, {prefix}i and {prefix}forget:
// the CORS preflight of a storefront on another subdomain posting JSON
// with fetch.
func (p *Proxy) handlePreflight(w http.ResponseWriter, r *http.Request) {
	origin := requestOrigin(r)
	if origin == "" || !p.origins[origin] {
		p.fail(w, r, apperr.Errorf(apperr.EFORBIDDEN, "origin is not allowed (SNIPPETD_ALLOWED_ORIGINS)"))
		return
	}
	cors(w, origin)
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads a JSON body, also accepted as text/plain (what
// navigator.sendBeacon sends for a string, and what avoids a CORS
// preflight).
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return httpx.ReadBody(w, r, p.opts.MaxBodyBytes, "application/json", "text/plain")
}

// browserID returns the request's browser id from its sd_bid cookie, ""
// when it has none or one no browser was given.
func browserID(r *http.Request) string {
	if c, err := r.Cookie(BrowserCookie); err == nil && validBrowserID(c.Value) {
		return c.Value
	}
	return ""
}

// browser returns the request's browser id, issuing a new one (and its
// cookie) when the request has none, and the identity stored for it. isNew
// reports that the id was issued now: the client has not yet shown that it
// keeps the cookie.
func (p *Proxy) browser(w http.ResponseWriter, r *http.Request) (id string, stored Identity, isNew bool, err error) {
	if id := browserID(r); id != "" {
		idn, _, err := p.store.Get(r.Context(), id)
		if err != nil {
			// The database is unreachable: ask the client to retry rather
			// than guess the identity (a 500 would say it is our bug).
			p.logger.Error("proxy: reading browser identity failed", "err", err)
			w.Header().Set("Retry-After", "5")
			return "", Identity{}, false, apperr.Errorf(apperr.EUNAVAILABLE, "identity store unavailable; retry")
		}
		return id, idn, false, nil
	}
	id = newBrowserID()
	http.SetCookie(w, p.browserCookie(id, isHTTPS(r, p.opts.TrustedProxies)))
	return id, Identity{}, true, nil
}

// browserCookie is the cookie that gives a browser its id.
func (p *Proxy) browserCookie(id string, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     BrowserCookie,
		Value:    id,
		Path:     p.opts.Prefix,
		MaxAge:   int(browserCookieMaxAge.Seconds()),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// klaCookie returns the exchange id and legacy email of the request's
// __kla_id cookie.
func klaCookie(r *http.Request) (kx, email string) {
	if c, err := r.Cookie(KlaviyoCookie); err == nil {
		return parseKlaID(c.Value)
	}
	return "", ""
}

// handleEvents serves POST {prefix}e: a batch of browser events. It
// answers 202 with {"accepted","dropped"} once the accepted events are in
// the outbox.
func (p *Proxy) handleEvents(w http.ResponseWriter, r *http.Request) {
	ip, err := p.admit(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	body, err := p.readBody(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	b, err := p.validator.DecodeBatch(body, p.now())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.phoneDropped(b.Dropped)
	if p.opts.RequireConsent && !b.Consent {
		p.Stats.DroppedConsent.Add(int64(len(b.Events)))
		p.opts.Metrics.ObserveRejected("proxy", "no_consent", len(b.Events))
		writeResult(w, result{Dropped: len(b.Events), Reason: "consent"})
		return
	}
	bid, stored, isNew, err := p.browser(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	src := Signals{Stored: stored, Claim: b.Profile, LandingKx: b.Kx}
	src.CookieKx, src.CookieEm = klaCookie(r)
	if src.LandingKx == "" {
		src.LandingKx = kxFromURL(r.Header.Get("Referer"))
	}
	profile, next, err := Resolve(src)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	// A browser met for the first time gets a row only when this request
	// taught what its cookies will not say again: a landing _kx or a
	// profile. What __kla_id says is written on the browser's next
	// request, once it has shown that it keeps the sd_bid cookie; a client
	// that never returns cookies (a bot, a browser refusing them) so costs
	// no database write per request.
	if next != stored && (!isNew || next.Claim != (Claim{}) || next.Kx != src.CookieKx) {
		p.store.PutLater(bid, next)
	}
	if !profile.HasIdentifier() {
		if !p.opts.KeepAnonymous {
			p.Stats.DroppedAnonymous.Add(int64(len(b.Events)))
			p.opts.Metrics.ObserveRejected("proxy", "anonymous", len(b.Events))
			writeResult(w, result{Dropped: len(b.Events), Reason: "anonymous"})
			return
		}
		profile.AnonymousID = p.store.AnonymousID(bid)
	}
	if ip.IsValid() {
		profile.Location = &klaviyo.Location{IP: ip.String()}
	}
	if len(b.Carts) > 0 {
		if err := p.opts.Carts.RememberCarts(r.Context(), b.Carts, p.now()); err != nil {
			p.logStoreError(r, "proxy: carts not remembered", err)
			w.Header().Set("Retry-After", "5")
			p.fail(w, r, apperr.Errorf(apperr.EUNAVAILABLE, "events could not be stored; retry"))
			return
		}
	}
	events := make([]klaviyo.Event, len(b.Events))
	for i, e := range b.Events {
		if e.UniqueID == "" {
			e.UniqueID = derivedUniqueID(bid, e)
		}
		e.Profile = profile
		events[i] = e
	}
	if err := p.outbox.Enqueue(r.Context(), events); err != nil {
		p.logStoreError(r, "proxy: enqueue failed", err)
		w.Header().Set("Retry-After", "5")
		p.fail(w, r, apperr.Errorf(apperr.EUNAVAILABLE, "events could not be stored; retry"))
		return
	}
	for _, id := range b.Products {
		p.opts.Products.Observe(id)
	}
	p.Stats.Accepted.Add(int64(len(events)))
	p.opts.Metrics.ObserveAccepted("proxy", len(events))
	writeResult(w, result{Accepted: len(events)})
}

// phoneDropped reports a phone number a request's profile left out.
func (p *Proxy) phoneDropped(d DroppedPhone) {
	if d.Field != "" && p.opts.Phones != nil {
		p.opts.Phones.PhoneDropped("proxy", d.Field, d.Number)
	}
}

// IdentifyMetric is the metric an identify is sent to Klaviyo with: the
// events API upserts the profile attributes an event carries, and Active
// on Site is what klaviyo.js itself records for an identified visitor. Its
// unique_id is derived from the browser and the identifiers, so repeating
// the same identify never records a second event.
const IdentifyMetric = "Active on Site"

// handleIdentify serves POST {prefix}i: the shopper's email, phone,
// external id and names. It stores them for the browser, so later events
// carry them, and enqueues a profile update; 202 once both are stored.
func (p *Proxy) handleIdentify(w http.ResponseWriter, r *http.Request) {
	ip, err := p.admit(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	body, err := p.readBody(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	id, err := p.validator.DecodeIdentify(body)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.phoneDropped(id.Dropped)
	if p.opts.RequireConsent && !id.Consent {
		p.Stats.DroppedConsent.Add(1)
		p.opts.Metrics.ObserveRejected("proxy", "no_consent", 1)
		writeResult(w, result{Dropped: 1, Reason: "consent"})
		return
	}
	bid, stored, _, err := p.browser(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	now := p.now()
	next := Identity{Claim: id.Claim, Kx: stored.Kx}
	cookieKx, _ := klaCookie(r)
	for _, kx := range []string{id.Kx, kxFromURL(r.Header.Get("Referer")), cookieKx} {
		if kx != "" {
			next.Kx = kx
			break
		}
	}
	if next != stored {
		if err := p.store.Put(r.Context(), bid, next, now); err != nil {
			p.logStoreError(r, "proxy: storing identify failed", err)
			w.Header().Set("Retry-After", "5")
			p.fail(w, r, apperr.Errorf(apperr.EUNAVAILABLE, "identify could not be stored; retry"))
			return
		}
	}
	// The profile update is enqueued even when the stored identity did
	// not change: an event batch of the same tick may have stored it a
	// moment earlier. Its unique_id makes Klaviyo keep one per browser and
	// identity, however often it is sent.
	profile := claimProfile(next.Claim)
	// Location and custom properties go along as the client profile API
	// takes them from a browser: on the one-identifier profile, never
	// adding an identifier.
	var loc klaviyo.Location
	if l := id.Location; l != nil {
		loc = klaviyo.Location{Address1: l.Address1, Address2: l.Address2, City: l.City, Region: l.Region, Country: l.Country, Zip: l.Zip}
	}
	if ip.IsValid() {
		loc.IP = ip.String()
	}
	if loc != (klaviyo.Location{}) {
		profile.Location = &loc
	}
	profile.Properties = id.Properties
	// The id covers what the update says, so a changed location or
	// property is a new event rather than a duplicate Klaviyo drops.
	extras := ""
	if id.Location != nil || id.Properties != nil {
		lj, _ := json.Marshal(id.Location)
		extras = "\x00" + string(lj) + "\x00" + string(id.Properties)
	}
	h := sha256.Sum256([]byte(bid + "\x00" + next.Email + "\x00" + next.PhoneNumber + "\x00" + next.ExternalID + extras))
	ev := klaviyo.Event{
		Metric:     IdentifyMetric,
		Profile:    profile,
		Properties: json.RawMessage(`{}`),
		Time:       now.UTC().Truncate(time.Second),
		UniqueID:   "sd-identify-" + hex.EncodeToString(h[:12]),
	}
	if err := p.outbox.Enqueue(r.Context(), []klaviyo.Event{ev}); err != nil {
		p.logStoreError(r, "proxy: enqueue identify failed", err)
		w.Header().Set("Retry-After", "5")
		p.fail(w, r, apperr.Errorf(apperr.EUNAVAILABLE, "identify could not be stored; retry"))
		return
	}
	p.Stats.Identified.Add(1)
	writeResult(w, result{Accepted: 1})
}

// handleForget serves POST {prefix}forget: the shopper withdrew consent,
// so the identity stored for this browser is deleted and its HttpOnly
// browser cookie expired (a page's script cannot delete it; the helper's
// consent(false) only removes __kla_id). 204 either way.
func (p *Proxy) handleForget(w http.ResponseWriter, r *http.Request) {
	if _, err := p.admit(w, r); err != nil {
		p.fail(w, r, err)
		return
	}
	if id := browserID(r); id != "" {
		if err := p.store.Delete(r.Context(), id); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name:     BrowserCookie,
		Value:    "",
		Path:     p.opts.Prefix,
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   isHTTPS(r, p.opts.TrustedProxies),
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// handleScript serves GET and HEAD {prefix}k.js: klaviyo.js for the
// configured public key, from the cache.
func (p *Proxy) handleScript(w http.ResponseWriter, r *http.Request) {
	if err := p.script.serve(w, r); err != nil {
		p.fail(w, r, err)
	}
}

// derivedUniqueID gives an event the browser sent without unique_id a
// stable one, so a beacon sent twice is still deduplicated by Klaviyo.
func derivedUniqueID(bid string, e klaviyo.Event) string {
	h := sha256.New()
	h.Write([]byte(bid))
	h.Write([]byte{0})
	h.Write([]byte(e.Metric))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(e.Time.Unix(), 10)))
	h.Write([]byte{0})
	h.Write(e.Properties)
	return "sd-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// writeResult answers 202 with v.
func writeResult(w http.ResponseWriter, v result) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(v)
}
