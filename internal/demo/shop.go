package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
	"github.com/snippetd/snippetd/web"
)

// Orders is what the shop needs of an order service: placing the
// checkout's order (which sends its server-side events) and reading it
// back for the confirmation page.
type Orders interface {
	// PlaceOrder places o. A *shop.FieldError, or an *Error with code
	// "invalid" or "bad_request", is something the shopper can fix and is
	// shown on the checkout form; any other error is the answer.
	PlaceOrder(ctx context.Context, o shop.Order) error
	// Order returns the order placed under id; ok is false when there is
	// none.
	Order(ctx context.Context, id string) (o shop.Order, ok bool, err error)
}

// Recorder takes the pushes the server rendered into page view, so that
// what the browser later reports running can be matched to them.
type Recorder interface {
	RecordRender(view string, pushes []json.RawMessage)
}

// RenderObserver times the server-side renders of the shop's snippets by
// snippet name and status (render metrics).
type RenderObserver interface {
	ObserveRender(snippet string, status int, d time.Duration)
}

// viewedProduct is the render API's name for the Viewed Product snippet,
// so that the shop's renders are counted with the API's.
const viewedProduct = "viewed-product"

// Options configures the shop. Every field but Helpers is optional.
type Options struct {
	// PublicKey is the loader's Klaviyo public key; with PublicKey (the
	// fake key used when none is configured), or in local-sink mode, pages
	// load the local klaviyo.js stand-in instead of Klaviyo's.
	PublicKey string
	// ProxyPrefix is the first-party proxy's prefix ("" when the proxy is
	// off: the mode toggle then explains how to turn it on).
	ProxyPrefix string
	// LocalSink says deliveries go to the local sink (shown on every
	// page); the pages then never load Klaviyo's klaviyo.js either, so
	// that nothing leaves the machine whatever public key is set.
	LocalSink bool
	// Helpers are the browser helper's builds the pages link (nil: pages
	// answer 503).
	Helpers *web.Helpers
	// Orders places and reads the checkout's orders (nil: checkout
	// answers 503 and confirmations 404).
	Orders Orders
	// Rendered takes the pushes of every server-rendered snippet (nil:
	// not recorded).
	Rendered Recorder
	// Renders observes each server-side render (nil: not observed).
	Renders RenderObserver
	// Subscriber takes the newsletter signup and the checkout's "email
	// me offers" box (subscribe.go; nil: neither is shown).
	Subscriber Subscriber
	// Reports serves POST /demo/onsite, where the klaviyo.js stand-in
	// reports the pushes a page ran (nil: that path answers 404).
	Reports http.Handler
	// Logger receives internal errors (nil: discarded).
	Logger *slog.Logger
}

// Shop is the demo storefront as an http.Handler serving /demo and every
// path under /demo/.
type Shop struct {
	o      Options
	logger *slog.Logger
	mux    *http.ServeMux
}

// New returns the shop configured by o.
func New(o Options) *Shop {
	s := &Shop{o: o, logger: o.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	get := func(h http.HandlerFunc) http.Handler { return methods{"GET": h, "HEAD": h} }
	m := http.NewServeMux()
	m.Handle("/demo", get(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/demo/", http.StatusMovedPermanently)
	}))
	m.Handle("/demo/{$}", get(s.handleHome))
	m.Handle("/demo/products/{id}", get(s.handleProduct))
	m.Handle("/demo/categories/{name}", get(s.handleCategory))
	m.Handle("/demo/search", get(s.handleSearch))
	m.Handle("/demo/cart", get(s.handleCart))
	m.Handle("/demo/cart/add", methods{"POST": s.handleCartChange})
	m.Handle("/demo/cart/remove", methods{"POST": s.handleCartChange})
	m.Handle("/demo/cart/restore", get(s.handleRestore))
	m.Handle("/demo/checkout", methods{"GET": s.handleCheckout, "HEAD": s.handleCheckout, "POST": s.handlePlaceOrder})
	m.Handle("/demo/orders/{id}", get(s.handleOrder))
	m.Handle("/demo/subscribe", methods{"POST": s.handleSubscribe})
	m.Handle("/demo/mode", methods{"GET": s.handleMode})
	m.Handle("/demo/img/{file}", get(s.handleImage))
	m.Handle("/demo/static/{file}", get(s.handleStatic))
	if o.Reports != nil {
		m.Handle("/demo/onsite", methods{"POST": o.Reports.ServeHTTP})
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "", "no route for "+r.URL.Path)
	})
	s.mux = m
	return s
}

// ServeHTTP routes r to the shop's pages.
func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, decodedPath(r)) }

// decodedPath returns r routed on its decoded path, as a router on
// URL.Path would: an escaped slash ("a%2Fb") then separates segments
// instead of landing inside a path value.
func decodedPath(r *http.Request) *http.Request {
	if r.URL.RawPath == "" {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.RawPath = ""
	r2.URL = &u
	return r2
}

// methods routes one path by method, answering 405 as a JSON error (the
// ServeMux's own 405 is plain text).
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h(w, r)
		return
	}
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", r.Method+" is not allowed here")
}

// Error is an error the shop answers with Status and a JSON body in the
// shape of snippetd's API, {"error":{"code","message","field"}}, so that
// the shop's script and API clients read one format. Orders returns one
// for a failure the shopper or the client can act on.
type Error struct {
	Status               int
	Code, Message, Field string
}

// Error returns the code, the field when there is one, and the message.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("demo: %s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("demo: %s: %s", e.Code, e.Message)
}

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func fieldErrorf(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Field: field, Message: fmt.Sprintf(format, args...)}
}

// asError returns the *Error of err: its own, a *shop.FieldError's as
// invalid input (422), or an internal error (500) whose text never reaches
// the client.
func asError(err error) (e *Error, internal bool) {
	var fe *shop.FieldError
	switch {
	case errors.As(err, &e):
		return e, e.Code == "internal"
	case errors.As(err, &fe):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Field: fe.Field, Message: fe.Message}, false
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}, true
}

// fail answers err as a JSON error, logging internal errors.
func (s *Shop) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, internal := asError(err)
	if internal {
		s.logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, e.Status, e.Code, e.Field, e.Message)
}

func writeError(w http.ResponseWriter, status int, code, field, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field,omitempty"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message, body.Error.Field = code, message, field
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// wantsJSON reports whether an Accept header prefers application/json to
// text/html (q > 0 and ranked above HTML, ties going to the type listed
// first; no header means HTML): shop.js asks for JSON, a form posted
// without JavaScript gets a page. It is the rule snippetd's API follows.
func wantsJSON(accept string) bool {
	if accept == "" {
		return false
	}
	qJSON, qHTML := -1.0, -1.0
	posJSON, posHTML := 0, 0
	for i, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "application/json":
			if q > qJSON {
				qJSON, posJSON = q, i
			}
		case "text/html":
			if q > qHTML {
				qHTML, posHTML = q, i
			}
		}
	}
	switch {
	case qJSON <= 0:
		return false
	case qHTML < 0:
		return true
	case qJSON != qHTML:
		return qJSON > qHTML
	}
	return posJSON < posHTML
}

// Cookies of the shop, all on path /demo/.
const (
	cartCookie   = "snippetd_demo_cart"
	cartIDCookie = "snippetd_demo_cart_id"
	modeCookie   = "snippetd_demo_mode"
	debugCookie  = "snippetd_demo_debug"
)

func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/demo/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// page is what a handler needs to render a page.
type page struct {
	chrome Chrome
	view   string
	lines  []Line
}

// standIn reports whether the pages load the local klaviyo.js stand-in
// instead of Klaviyo's: in local-sink mode (so that nothing leaves the
// machine, whatever public key is set) and with the fake demo key.
func (s *Shop) standIn() bool {
	return s.o.LocalSink || s.o.PublicKey == PublicKey
}

// mode is the shopper's chosen mode: direct unless the proxy is on and
// proxy was chosen.
func (s *Shop) mode(r *http.Request) string {
	if s.o.ProxyPrefix != "" && cookieValue(r, modeCookie) == ModeProxy {
		return ModeProxy
	}
	return ModeDirect
}

// newPage builds the frame: loader options for the mode, the cart, the
// debug overlay switch (?debug=1 sets it, ?debug=0 clears it).
func (s *Shop) newPage(w http.ResponseWriter, r *http.Request, title string) (page, error) {
	helpers := s.o.Helpers
	if helpers == nil {
		return page{}, errorf(http.StatusServiceUnavailable, "unavailable", "the demo needs the browser helper")
	}
	p := page{view: randomID(8)}
	lines := ParseCart(cookieValue(r, cartCookie))
	cartID := cookieValue(r, cartIDCookie)
	if cartID == "" || len(cartID) > 64 {
		cartID = "cart-" + randomID(6)
		setCookie(w, cartIDCookie, cartID, 30*24*3600)
	}
	debug := cookieValue(r, debugCookie) == "1"
	switch r.URL.Query().Get("debug") {
	case "1":
		debug = true
		setCookie(w, debugCookie, "1", 0)
	case "0":
		debug = false
		setCookie(w, debugCookie, "", -1)
	}
	mode := s.mode(r)
	var lo snippets.LoaderOptions
	if mode == ModeProxy {
		b := helpers.Get(web.Features{Proxy: true})
		lo = snippets.LoaderOptions{PublicKey: s.o.PublicKey, KlaviyoJSURL: s.o.ProxyPrefix + "k.js", ProxyEndpoint: s.o.ProxyPrefix, HelperSrc: b.Path, HelperIntegrity: b.Integrity}
	} else {
		b := helpers.Get(web.Features{})
		lo = snippets.LoaderOptions{PublicKey: s.o.PublicKey, HelperSrc: b.Path, HelperIntegrity: b.Integrity}
	}
	if s.standIn() {
		// Nothing may reach Klaviyo: klaviyo.js is the local stand-in,
		// told which view it runs in so its report matches the render.
		lo.KlaviyoJSURL = "/demo/static/klaviyo.js?view=" + p.view
	}
	p.lines = lines
	p.chrome = Chrome{
		Title: title, Loader: lo, Mode: mode, ProxyOn: s.o.ProxyPrefix != "", Path: r.URL.Path,
		CartCount: Count(lines), Debug: debug, LocalSink: s.o.LocalSink,
		Cart: Cart(cartID, baseURL(r), lines), Subscribe: s.o.Subscriber != nil,
	}
	return p, nil
}

// write renders c in full before answering, so that a failed render is a
// JSON error rather than half a page.
func (s *Shop) write(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf strings.Builder
	if err := c.Render(r.Context(), &buf); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write([]byte(buf.String()))
}
