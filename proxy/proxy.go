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
// private key stays on the server. It imports the root package, shop,
// klaviyo, db, httpapi (for the error funnel and body reading) and metrics
// (its hook interface); fasthttp for its optional dedicated listener
// (fast.go).
package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/time/rate"

	"github.com/snippetd/snippetd/internal/apperr"
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
	Limits Limits
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
	klaIDs    klaIDCache
	outbox    Enqueuer
	script    *Script
	logger    *slog.Logger
	limiter   *Limiter
	origins   map[string][]string // allowed origin -> its Access-Control-Allow-Origin value
	// verbatim holds the allowed origins that NormalizeOrigin leaves as
	// they are, each with its origins value: an Origin header naming one
	// of them (what browsers send) is that origin without parsing it
	// again or looking it up twice.
	verbatim map[string][]string
	// cookieTail is what follows "sd_bid=<id>" in the Set-Cookie header
	// of a new browser, without and with Secure: the attributes are the
	// same for every browser, so they are formatted once.
	cookieTail [2]string
	now        func() time.Time

	// Stats are the proxy's counters.
	Stats Stats
}

// New returns a Proxy. store keeps browser identities, outbox receives the
// events, script serves klaviyo.js (nil leaves {prefix}k.js unmounted).
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
		logger = slog.Default()
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
		origins:   map[string][]string{},
		verbatim:  map[string][]string{},
		now:       time.Now,
	}
	for _, o := range opts.AllowedOrigins {
		if n := NormalizeOrigin(o); n != "" {
			p.origins[n] = []string{n}
			if NormalizeOrigin(n) == n {
				p.verbatim[n] = p.origins[n]
			}
		}
	}
	for i, secure := range []bool{false, true} {
		const v = "x"
		c := p.browserCookie(v, secure).String()
		p.cookieTail[i] = strings.TrimPrefix(c, BrowserCookie+"="+v)
	}
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
// unless the client went away while it waited for the commit (wrk
// stopping, a tab closing) — then the write may still complete, and a
// resend is deduplicated by its unique id.
func (p *Proxy) logStoreError(x *exchange, msg string, err error) {
	if x.ctx().Err() != nil {
		p.logger.Debug(msg+": client went away before the commit", "err", err)
		return
	}
	p.logger.Error(msg, "err", err)
}

func (p *Proxy) fail(w http.ResponseWriter, x *exchange, err error) {
	if x.ctx().Err() != nil {
		// The client went away (wrk stopping, a tab closing): nobody to
		// answer and nothing to log as an internal error.
		err = apperr.Errorf(apperr.EUNAVAILABLE, "request canceled")
	}
	if reason := rejectReason(err); reason != "" {
		p.Stats.Rejected.Add(1)
		p.opts.Metrics.ObserveRejected("proxy", reason, 1)
	}
	x.httpError(w, p.logger, err)
}

// admit runs the checks every browser POST passes before its body is read:
// the origin allow-list (with CORS headers for allowed origins) and the
// per-client rate limit. It returns the client IP and its rate limiter
// key (see ipText).
func (p *Proxy) admit(w http.ResponseWriter, x *exchange) (ip netip.Addr, key string, err error) {
	origin, allow := p.requestOrigin(x)
	if origin == "" {
		return netip.Addr{}, "", apperr.Errorf(apperr.EFORBIDDEN, "requests need an Origin or Referer header from an allowed storefront")
	}
	if allow == nil {
		return netip.Addr{}, "", apperr.Errorf(apperr.EFORBIDDEN, "origin %s is not allowed (SNIPPETD_ALLOWED_ORIGINS)", truncate(origin, 100))
	}
	cors(w, allow)
	ip, text := clientIP(x, p.opts.TrustedProxies)
	key = text // an IPv4 address's limiter key is its text
	if !ip.Is4() || text == "" {
		key = limiterKey(ip)
	}
	if ok, wait := p.limiter.Allow(key, p.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		return ip, key, apperr.Errorf(apperr.ERATELIMIT, "too many requests from this client; retry after %d s", retryAfterSeconds(wait))
	}
	return ip, key, nil
}

// ipText is ip.String(), without formatting an IPv4 address again: its
// rate limiter key (limiterKey) is that text.
func ipText(ip netip.Addr, key string) string {
	if ip.Is4() {
		return key
	}
	return ip.String()
}

// Header values every answer to a browser shares. The slices are assigned,
// not copied, into response headers (nothing in net/http writes to them):
// header values cost the hot path an allocation each otherwise.
var (
	hdrTrue    = []string{"true"}
	hdrOrigin  = []string{"Origin"}
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
)

// requestOrigin is requestOrigin(r), without parsing an Origin header
// that names an allowed origin verbatim, and its p.origins value (nil
// when it is not allowed).
func (p *Proxy) requestOrigin(x *exchange) (origin string, allow []string) {
	if o := x.header("Origin"); o != "" {
		if allow := p.verbatim[o]; allow != nil {
			return o, allow
		}
	}
	origin = requestOrigin(x)
	return origin, p.origins[origin]
}

// cors allows an origin to read the answer and send credentials (the
// sd_bid cookie); allow is its p.origins value.
func cors(w http.ResponseWriter, allow []string) {
	h := w.Header()
	h["Access-Control-Allow-Origin"] = allow
	h["Access-Control-Allow-Credentials"] = hdrTrue
	if len(h["Vary"]) == 0 {
		h["Vary"] = hdrOrigin
	} else {
		h.Add("Vary", "Origin")
	}
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

// handlePreflight serves OPTIONS {prefix}e and {prefix}i: the CORS
// preflight of a storefront on another subdomain posting JSON with fetch.
func (p *Proxy) handlePreflight(w http.ResponseWriter, r *http.Request) {
	x := &exchange{r: r}
	origin, allow := p.requestOrigin(x)
	if origin == "" || allow == nil {
		p.fail(w, x, apperr.Errorf(apperr.EFORBIDDEN, "origin is not allowed (SNIPPETD_ALLOWED_ORIGINS)"))
		return
	}
	cors(w, allow)
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads a JSON body, also accepted as text/plain (what
// navigator.sendBeacon sends for a string, and what avoids a CORS
// preflight).
func (p *Proxy) readBody(w http.ResponseWriter, x *exchange) ([]byte, error) {
	switch x.header("Content-Type") {
	case "text/plain;charset=UTF-8", "text/plain", "application/json":
		// What sendBeacon, fetch and load tools send: ReadBody's check
		// (mime.ParseMediaType, which allocates a map) would pass them.
		return x.readBody(w, p.opts.MaxBodyBytes)
	}
	return x.readBody(w, p.opts.MaxBodyBytes, "application/json", "text/plain")
}

// browser returns the request's browser id, issuing a new one (and its
// cookie) when the request has none, and the identity stored for it. isNew
// reports that the id was issued now: the client has not yet shown that it
// keeps the cookie.
func (p *Proxy) browser(w http.ResponseWriter, x *exchange) (id string, stored Identity, isNew bool, err error) {
	if c, ok := cookie(x.headerValues("Cookie"), BrowserCookie); ok && validBrowserID(c) {
		idn, _, err := p.store.Get(x.ctx(), c)
		if err != nil {
			// The database is unreachable: ask the client to retry rather
			// than guess the identity (a 500 would say it is our bug).
			p.logger.Error("proxy: reading browser identity failed", "err", err)
			w.Header().Set("Retry-After", "5")
			return "", Identity{}, false, apperr.Errorf(apperr.EUNAVAILABLE, "identity store unavailable; retry")
		}
		return c, idn, false, nil
	}
	// What http.SetCookie(w, p.browserCookie(id, secure)) writes for a
	// new id, which is base64url: a cookie value holds it as it is. The id
	// is a substring of the header value (one allocation for both).
	tail := p.cookieTail[0]
	if isHTTPS(x, p.opts.TrustedProxies) {
		tail = p.cookieTail[1]
	}
	var raw [browserIDBytes]byte
	rand.Read(raw[:])
	var enc [32]byte
	const name = BrowserCookie + "="
	c := name + string(base64.RawURLEncoding.AppendEncode(enc[:0], raw[:])) + tail
	id = c[len(name) : len(c)-len(tail)]
	h := w.Header()
	h["Set-Cookie"] = append(h["Set-Cookie"], c)
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
func (p *Proxy) klaCookie(x *exchange) (kx, email string) {
	if c, ok := cookie(x.headerValues("Cookie"), KlaviyoCookie); ok {
		return p.klaIDs.parse(c)
	}
	return "", ""
}

// cookie returns the value of r.Cookie(name) for a request whose Cookie
// lines are lines (ok false for http.ErrNoCookie), read as r.Cookie reads
// it but without its
// allocations (a slice and a Cookie per request): the Cookie lines split
// at ';', each part trimmed and split at its first '=', the first part
// named name whose value (without one pair of enclosing quotes) holds
// only the bytes a cookie value may. r.Cookie refuses a header of more
// cookies than the httpcookiemaxnum GODEBUG setting allows; a header of
// more than cookieFastMax cookies, or a setting below it, is left to
// r.Cookie. TestCookie holds it to r.Cookie.
func cookie(lines []string, name string) (value string, ok bool) {
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > cookieFastMax || !cookieLimitAllowsFast() {
		r := http.Request{Header: http.Header{"Cookie": lines}}
		c, err := r.Cookie(name)
		if err != nil {
			return "", false
		}
		return c.Value, true
	}
	for _, line := range lines {
		if !strings.Contains(line, name) {
			continue
		}
		line = textproto.TrimString(line)
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(k) != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if validCookieValue(v) {
				return v, true
			}
		}
	}
	return "", false
}

// cookieFastMax is the most cookies a header may hold for cookie to read
// it itself.
const cookieFastMax = 64

// cookieLimitAllowsFast reports whether r.Cookie reads headers of
// cookieFastMax cookies (unless GODEBUG httpcookiemaxnum lowers it, as it
// does to none), asked once of http.ParseCookie, which shares the limit.
var cookieLimitAllowsFast = sync.OnceValue(func() bool {
	_, err := http.ParseCookie(strings.Repeat("a=1;", cookieFastMax-1) + "a=1")
	return err == nil
})

// validCookieValue reports whether net/http keeps a cookie value: every
// byte printable ASCII but '"', ';' and '\\'.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if !cookieValueByte[v[i]] {
			return false
		}
	}
	return true
}

// cookieValueByte marks the bytes validCookieValue allows.
var cookieValueByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != ';' && c != '\\'
	}
	return t
}()

// handleEvents serves POST {prefix}e: a batch of browser events. It
// answers 202 with {"accepted","dropped"} once the accepted events are in
// the outbox.
func (p *Proxy) handleEvents(w http.ResponseWriter, r *http.Request) {
	p.events(w, &exchange{r: r})
}

// events is handleEvents on either HTTP stack.
func (p *Proxy) events(w http.ResponseWriter, x *exchange) {
	ip, ipKey, err := p.admit(w, x)
	if err != nil {
		p.fail(w, x, err)
		return
	}
	body, err := p.readBody(w, x)
	if err != nil {
		p.fail(w, x, err)
		return
	}
	now := p.now()
	b, err := p.validator.DecodeBatch(body, now)
	if err != nil {
		p.fail(w, x, err)
		return
	}
	if p.opts.RequireConsent && !b.Consent {
		p.Stats.DroppedConsent.Add(int64(len(b.Events)))
		p.opts.Metrics.ObserveRejected("proxy", "no_consent", len(b.Events))
		writeJSON(w, http.StatusAccepted, result{Dropped: len(b.Events), Reason: "consent"})
		return
	}
	bid, stored, isNew, err := p.browser(w, x)
	if err != nil {
		p.fail(w, x, err)
		return
	}
	src := Sources{Stored: stored, Claim: b.Profile, LandingKx: b.Kx}
	src.CookieKx, src.CookieEm = p.klaCookie(x)
	if src.LandingKx == "" {
		src.LandingKx = kxFromURL(x.header("Referer"))
	}
	profile, next, err := Resolve(src)
	if err != nil {
		p.fail(w, x, err)
		return
	}
	// A browser met for the first time gets a row only when this request
	// taught what its cookies will not say again: a landing _kx or a
	// profile. What __kla_id says is written on the browser's next
	// request, once it has shown that it keeps the sd_bid cookie; a client
	// that never returns cookies (a bot, a load tool, a browser refusing
	// them) so costs no database write per request.
	if next != stored && (!isNew || next.Claim != (Claim{}) || next.Kx != src.CookieKx) {
		p.store.PutLater(bid, next)
	}
	if !profile.HasIdentifier() {
		if !p.opts.KeepAnonymous {
			p.Stats.DroppedAnonymous.Add(int64(len(b.Events)))
			p.opts.Metrics.ObserveRejected("proxy", "anonymous", len(b.Events))
			writeJSON(w, http.StatusAccepted, result{Dropped: len(b.Events), Reason: "anonymous"})
			return
		}
		profile.AnonymousID = bid
	}
	// A batch of one event (almost every request) and its location share
	// one allocation.
	var (
		events []klaviyo.Event
		loc    *klaviyo.Location
	)
	if len(b.Events) == 1 {
		one := new(struct {
			events [1]klaviyo.Event
			loc    klaviyo.Location
		})
		events, loc = one.events[:], &one.loc
	} else {
		events, loc = make([]klaviyo.Event, len(b.Events)), new(klaviyo.Location)
	}
	if ip.IsValid() {
		loc.IP = ipText(ip, ipKey)
		profile.Location = loc
	}
	// No klaviyo.Event.ValidateAt here: the validator's limits sit inside
	// Klaviyo's, and FuzzDecodeBatch checks that every event it accepts
	// passes ValidateAt. Calling it per request cost a quarter of the
	// handler's CPU (it encodes the event to measure it).
	for i, e := range b.Events {
		events[i] = klaviyo.Event{
			Metric:     e.Metric,
			Profile:    profile,
			Properties: e.Properties,
			Time:       e.Time,
			Value:      e.Value,
			UniqueID:   e.UniqueID,
		}
		if events[i].UniqueID == "" {
			events[i].UniqueID = derivedUniqueID(bid, e)
		}
	}
	if err := p.outbox.Enqueue(x.ctx(), events); err != nil {
		p.logStoreError(x, "proxy: enqueue failed", err)
		w.Header().Set("Retry-After", "5")
		p.fail(w, x, apperr.Errorf(apperr.EUNAVAILABLE, "events could not be stored; retry"))
		return
	}
	p.Stats.Accepted.Add(int64(len(events)))
	p.opts.Metrics.ObserveAccepted("proxy", len(events))
	writeJSON(w, http.StatusAccepted, result{Accepted: len(events)})
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
	p.identify(w, &exchange{r: r})
}

// identify is handleIdentify on either HTTP stack.
func (p *Proxy) identify(w http.ResponseWriter, x *exchange) {
	ip, ipKey, err := p.admit(w, x)
	if err != nil {
		p.fail(w, x, err)
		return
	}
	body, err := p.readBody(w, x)
	if err != nil {
		p.fail(w, x, err)
		return
	}
	id, err := p.validator.DecodeIdentify(body)
	if err != nil {
		p.fail(w, x, err)
		return
	}
	if p.opts.RequireConsent && !id.Consent {
		p.Stats.DroppedConsent.Add(1)
		p.opts.Metrics.ObserveRejected("proxy", "no_consent", 1)
		writeJSON(w, http.StatusAccepted, result{Dropped: 1, Reason: "consent"})
		return
	}
	bid, stored, _, err := p.browser(w, x)
	if err != nil {
		p.fail(w, x, err)
		return
	}
	now := p.now()
	next := Identity{Claim: id.Claim, Kx: stored.Kx}
	cookieKx, _ := p.klaCookie(x)
	for _, kx := range []string{id.Kx, kxFromURL(x.header("Referer")), cookieKx} {
		if kx != "" {
			next.Kx = kx
			break
		}
	}
	if next != stored {
		if err := p.store.Put(x.ctx(), bid, next, now); err != nil {
			p.logStoreError(x, "proxy: storing identify failed", err)
			w.Header().Set("Retry-After", "5")
			p.fail(w, x, apperr.Errorf(apperr.EUNAVAILABLE, "identify could not be stored; retry"))
			return
		}
	}
	// The profile update is enqueued even when the stored identity did
	// not change: an event batch of the same tick may have stored it a
	// moment earlier. Its unique_id makes Klaviyo keep one per browser and
	// identity, however often it is sent.
	profile := claimProfile(next.Claim)
	if ip.IsValid() {
		profile.Location = &klaviyo.Location{IP: ipText(ip, ipKey)}
	}
	h := sha256.Sum256([]byte(bid + "\x00" + next.Email + "\x00" + next.PhoneNumber + "\x00" + next.ExternalID))
	ev := klaviyo.Event{
		Metric:     IdentifyMetric,
		Profile:    profile,
		Properties: json.RawMessage(`{}`),
		Time:       now.UTC().Truncate(time.Second),
		UniqueID:   "sd-identify-" + hex.EncodeToString(h[:12]),
	}
	if err := p.outbox.Enqueue(x.ctx(), []klaviyo.Event{ev}); err != nil {
		p.logStoreError(x, "proxy: enqueue identify failed", err)
		w.Header().Set("Retry-After", "5")
		p.fail(w, x, apperr.Errorf(apperr.EUNAVAILABLE, "identify could not be stored; retry"))
		return
	}
	p.Stats.Identified.Add(1)
	writeJSON(w, http.StatusAccepted, result{Accepted: 1})
}

// handleForget serves POST {prefix}forget: the shopper withdrew consent,
// so the identity stored for this browser is deleted and its HttpOnly
// browser cookie expired (a page's script cannot delete it; the helper's
// consent(false) only removes __kla_id). 204 either way.
func (p *Proxy) handleForget(w http.ResponseWriter, r *http.Request) {
	p.forget(w, &exchange{r: r})
}

// forget is handleForget on either HTTP stack.
func (p *Proxy) forget(w http.ResponseWriter, x *exchange) {
	if _, _, err := p.admit(w, x); err != nil {
		p.fail(w, x, err)
		return
	}
	if c, ok := cookie(x.headerValues("Cookie"), BrowserCookie); ok && validBrowserID(c) {
		if err := p.store.Delete(x.ctx(), c); err != nil {
			p.fail(w, x, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name:     BrowserCookie,
		Value:    "",
		Path:     p.opts.Prefix,
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   isHTTPS(x, p.opts.TrustedProxies),
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// handleScript serves GET and HEAD {prefix}k.js: klaviyo.js for the
// configured public key, from the cache.
func (p *Proxy) handleScript(w http.ResponseWriter, r *http.Request) {
	if err := p.script.serve(w, r); err != nil {
		p.fail(w, &exchange{r: r}, err)
	}
}

// derivedUniqueID gives an event the browser sent without unique_id a
// stable one, so a beacon sent twice is still deduplicated by Klaviyo.
func derivedUniqueID(bid string, e Event) string {
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

func writeJSON(w http.ResponseWriter, status int, v result) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	w.WriteHeader(status)
	if v.Dropped == 0 && v.Reason == "" && v.Accepted >= 0 && v.Accepted < len(acceptedBodies) {
		w.Write(acceptedBodies[v.Accepted]) // a Writer neither keeps nor changes what it is given
		return
	}
	w.Write(v.appendJSON(make([]byte, 0, 64)))
}

// acceptedBodies[n] is the body of result{Accepted: n}, for the batch
// sizes of the default limit: the 202 of almost every request.
var acceptedBodies = func() [][]byte {
	b := make([][]byte, DefaultLimits.MaxEvents+1)
	for n := range b {
		b[n] = result{Accepted: n}.appendJSON(nil)
	}
	return b
}()

// appendJSON appends r as JSON and a newline, as json.Encoder would.
func (r result) appendJSON(b []byte) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(r.Accepted), 10)
	b = append(b, `,"dropped":`...)
	b = strconv.AppendInt(b, int64(r.Dropped), 10)
	if r.Reason != "" {
		b = append(b, `,"reason":`...)
		b = strconv.AppendQuote(b, r.Reason) // "consent", "anonymous": plain ASCII
	}
	return append(b, "}\n"...)
}

// ParseOrigins splits a comma-separated origin list, normalizing each, and
// reports the first entry that is not an origin.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		n := NormalizeOrigin(o)
		if n == "" || (!strings.HasPrefix(n, "http://") && !strings.HasPrefix(n, "https://")) {
			return nil, apperr.Errorf(apperr.EINVALID, "%q is not an origin such as https://shop.example", o)
		}
		out = append(out, n)
	}
	return out, nil
}
