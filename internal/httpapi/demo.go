package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/mail"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/demo"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/render"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
	"github.com/snippetd/snippetd/web"
)

// Demo configures the demo shop at /demo/.
type Demo struct {
	// PublicKey is the loader's Klaviyo public key; with demo.PublicKey
	// (the fake key used when none is configured), or in local-sink mode,
	// pages load the local klaviyo.js stand-in instead of Klaviyo's.
	PublicKey string
	// ProxyPrefix is the first-party proxy's prefix ("" when the proxy is
	// off: the mode toggle then explains how to turn it on).
	ProxyPrefix string
	// Ring receives the pushes the pages render and the browser reports.
	Ring *inspect.Ring
	// LocalSink says deliveries go to the local sink (shown on every
	// page); the pages then never load Klaviyo's klaviyo.js either.
	LocalSink bool
}

// Demo cookies.
const (
	demoCartCookie   = "snippetd_demo_cart"
	demoCartIDCookie = "snippetd_demo_cart_id"
	demoModeCookie   = "snippetd_demo_mode"
	demoDebugCookie  = "snippetd_demo_debug"
)

// demoOn answers 404 for every demo route when the demo is off.
func (s *Server) demoOn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Demo == nil {
			httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "the demo shop is off (SNIPPETD_DEMO=on turns it on)"))
			return
		}
		h(w, r)
	}
}

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

// demoPage is what a handler needs to render a demo page.
type demoPage struct {
	chrome demo.Chrome
	view   string
	lines  []demo.Line
}

// demoMode is the shopper's chosen mode, direct unless the proxy is on and
// proxy was chosen.
// demoStandIn reports whether the demo's pages load the local klaviyo.js
// stand-in instead of Klaviyo's: in local-sink mode (so that nothing leaves
// the machine, whatever public key is set) and with the fake demo key.
func (s *Server) demoStandIn() bool {
	return s.Demo.LocalSink || s.Demo.PublicKey == demo.PublicKey
}

func (s *Server) demoMode(r *http.Request) string {
	if s.Demo.ProxyPrefix != "" && cookieValue(r, demoModeCookie) == demo.ModeProxy {
		return demo.ModeProxy
	}
	return demo.ModeDirect
}

// newDemoPage builds the frame: loader options for the mode, the cart, the
// debug overlay switch (?debug=1 sets it, ?debug=0 clears it).
func (s *Server) newDemoPage(w http.ResponseWriter, r *http.Request, title string) (demoPage, error) {
	helpers := s.Helpers
	if helpers == nil {
		return demoPage{}, apperr.Errorf(apperr.EUNAVAILABLE, "the demo needs the browser helper")
	}
	p := demoPage{view: randomID(8)}
	lines := demo.ParseCart(cookieValue(r, demoCartCookie))
	cartID := cookieValue(r, demoCartIDCookie)
	if cartID == "" || len(cartID) > 64 {
		cartID = "cart-" + randomID(6)
		setCookie(w, demoCartIDCookie, cartID, 30*24*3600)
	}
	debug := cookieValue(r, demoDebugCookie) == "1"
	switch r.URL.Query().Get("debug") {
	case "1":
		debug = true
		setCookie(w, demoDebugCookie, "1", 0)
	case "0":
		debug = false
		setCookie(w, demoDebugCookie, "", -1)
	}
	mode := s.demoMode(r)
	var lo snippets.LoaderOptions
	if mode == demo.ModeProxy {
		b := helpers.Get(web.Features{Proxy: true})
		lo = snippets.LoaderOptions{PublicKey: s.Demo.PublicKey, KlaviyoJSURL: s.Demo.ProxyPrefix + "k.js", ProxyEndpoint: s.Demo.ProxyPrefix, HelperSrc: b.Path, HelperIntegrity: b.Integrity}
	} else {
		b := helpers.Get(web.Features{})
		lo = snippets.LoaderOptions{PublicKey: s.Demo.PublicKey, HelperSrc: b.Path, HelperIntegrity: b.Integrity}
	}
	if s.demoStandIn() {
		// Nothing may reach Klaviyo: klaviyo.js is the local stand-in.
		lo.KlaviyoJSURL = "/demo/static/klaviyo.js?view=" + p.view
	}
	p.lines = lines
	p.chrome = demo.Chrome{
		Title: title, Loader: lo, Mode: mode, ProxyOn: s.Demo.ProxyPrefix != "", Path: r.URL.Path,
		CartCount: demo.Count(lines), Debug: debug, LocalSink: s.Demo.LocalSink,
		Cart: demo.Cart(cartID, baseURL(r), lines),
	}
	return p, nil
}

func (s *Server) writeDemo(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf strings.Builder
	if err := c.Render(r.Context(), &buf); err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write([]byte(buf.String()))
}

func cards(base string, items []demo.Item) []demo.ProductCard {
	out := make([]demo.ProductCard, len(items))
	for i, it := range items {
		out[i] = demo.ProductCard{Item: it, Product: it.WithURLs(base)}
	}
	return out
}

// handleDemoHome serves GET /demo/: the product list.
func (s *Server) handleDemoHome(w http.ResponseWriter, r *http.Request) {
	p, err := s.newDemoPage(w, r, "Shop")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	s.writeDemo(w, r, http.StatusOK, demo.Home(p.chrome, cards(baseURL(r), demo.Catalog)))
}

// handleDemoProduct serves GET /demo/products/{id}: a product page. In
// direct mode it renders the Viewed Product snippet (recorded in the
// inspector as source render); in proxy mode the helper reports the view
// to the proxy.
func (s *Server) handleDemoProduct(w http.ResponseWriter, r *http.Request) {
	it, ok := demo.Find(mux.Vars(r)["id"])
	if !ok {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no product %q", mux.Vars(r)["id"]))
		return
	}
	p, err := s.newDemoPage(w, r, it.Name)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	base := baseURL(r)
	v := demo.ProductView{Item: it, Product: it.WithURLs(base)}
	for _, other := range demo.Catalog {
		if other.ID != it.ID && len(v.Related) < 3 {
			v.Related = append(v.Related, demo.ProductCard{Item: other, Product: other.WithURLs(base)})
		}
	}
	if p.chrome.Mode == demo.ModeDirect {
		start := time.Now()
		sn := snippets.ViewedProduct(v.Product)
		pushes, err := sn.Pushes()
		status := http.StatusOK
		if err != nil {
			status = httpx.ErrorStatus(err)
		}
		s.renderHooks().ObserveRender(render.ViewedProduct, status, time.Since(start))
		if err != nil {
			httpx.Error(w, r, s.Logger, err)
			return
		}
		v.Viewed = sn
		if s.Demo.Ring != nil {
			raw := make([]json.RawMessage, len(pushes))
			for i, p := range pushes {
				raw[i] = json.RawMessage(p)
			}
			s.Demo.Ring.RecordRender(p.view, raw)
		}
	}
	s.writeDemo(w, r, http.StatusOK, demo.Product(p.chrome, v))
}

// handleDemoCart serves GET /demo/cart.
func (s *Server) handleDemoCart(w http.ResponseWriter, r *http.Request) {
	p, err := s.newDemoPage(w, r, "Cart")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	s.writeDemo(w, r, http.StatusOK, demo.CartPage(p.chrome))
}

// handleDemoCartChange serves POST /demo/cart/add and /demo/cart/remove
// (form id, quantity): it updates the cart cookie and answers
// {"count": n} to shop.js, or redirects to the cart without JavaScript.
func (s *Server) handleDemoCartChange(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.EBADREQUEST, "malformed form"))
		return
	}
	id := r.PostForm.Get("id")
	if _, ok := demo.Find(id); !ok {
		httpx.Error(w, r, s.Logger, apperr.FieldErrorf("id", "no product %q", id))
		return
	}
	lines := demo.ParseCart(cookieValue(r, demoCartCookie))
	if strings.HasSuffix(r.URL.Path, "/remove") {
		lines = demo.RemoveLine(lines, id)
	} else {
		q := int64(1)
		if v := r.PostForm.Get("quantity"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > demo.MaxQuantity {
				httpx.Error(w, r, s.Logger, apperr.FieldErrorf("quantity", "must be a whole number from 1 to %d", demo.MaxQuantity))
				return
			}
			q = n
		}
		lines = demo.AddLine(lines, id, q)
	}
	setCookie(w, demoCartCookie, demo.FormatCart(lines), 30*24*3600)
	if httpx.WantsJSON(r.Header.Get("Accept")) {
		writeJSON(w, http.StatusOK, map[string]int64{"count": demo.Count(lines)})
		return
	}
	http.Redirect(w, r, "/demo/cart", http.StatusSeeOther)
}

// handleDemoCheckout serves GET /demo/checkout.
func (s *Server) handleDemoCheckout(w http.ResponseWriter, r *http.Request) {
	p, err := s.newDemoPage(w, r, "Checkout")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	if len(p.lines) == 0 {
		http.Redirect(w, r, "/demo/cart", http.StatusSeeOther)
		return
	}
	s.writeDemo(w, r, http.StatusOK, demo.Checkout(p.chrome, demo.CheckoutView{Cart: p.chrome.Cart, Form: demo.CheckoutForm{Country: "United States"}}))
}

// handleDemoPlaceOrder serves POST /demo/checkout: it places the cart as
// an order through the orders API (whose events go into the outbox), empties
// the cart and redirects to the confirmation.
func (s *Server) handleDemoPlaceOrder(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.EBADREQUEST, "malformed form"))
		return
	}
	p, err := s.newDemoPage(w, r, "Checkout")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	if len(p.lines) == 0 {
		http.Redirect(w, r, "/demo/cart", http.StatusSeeOther)
		return
	}
	f := demo.CheckoutForm{}
	for k, dst := range map[string]*string{"email": &f.Email, "first_name": &f.FirstName, "last_name": &f.LastName, "address1": &f.Address1, "city": &f.City, "zip": &f.Zip, "country": &f.Country} {
		*dst = strings.TrimSpace(r.PostForm.Get(k))
		if len(*dst) > 200 {
			*dst = (*dst)[:200]
		}
	}
	fail := func(msg string) {
		s.writeDemo(w, r, http.StatusUnprocessableEntity, demo.Checkout(p.chrome, demo.CheckoutView{Cart: p.chrome.Cart, Form: f, Error: msg}))
	}
	if a, err := mail.ParseAddress(f.Email); err != nil || a.Address != f.Email {
		fail("Please enter a valid email address.")
		return
	}
	if s.Orders == nil {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.EUNAVAILABLE, "the orders API is not configured"))
		return
	}
	addr := &shop.Address{FirstName: f.FirstName, LastName: f.LastName, Address1: f.Address1, City: f.City, Zip: f.Zip, Country: f.Country}
	o := shop.Order{
		ID: "LK-" + strings.ToUpper(randomID(4)), PlacedAt: time.Now().UTC().Truncate(time.Second), Currency: "USD",
		Customer: shop.Customer{Email: f.Email, FirstName: f.FirstName, LastName: f.LastName, Address: addr},
		Items:    p.chrome.Cart.Items, BillingAddress: addr, ShippingAddress: addr,
	}
	if _, err := s.Orders.Place(r.Context(), o); err != nil {
		if c := apperr.ErrorCode(err); c == apperr.EINVALID || c == apperr.EBADREQUEST {
			fail(fmt.Sprintf("%s (%s)", apperr.ErrorMessage(err), apperr.ErrorField(err)))
			return
		}
		httpx.Error(w, r, s.Logger, err)
		return
	}
	setCookie(w, demoCartCookie, "", -1)
	setCookie(w, demoCartIDCookie, "", -1)
	http.Redirect(w, r, "/demo/orders/"+o.ID, http.StatusSeeOther)
}

// handleDemoOrder serves GET /demo/orders/{id}: the confirmation of an
// order placed in the demo.
func (s *Server) handleDemoOrder(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if s.Orders == nil || s.Orders.Store == nil || !strings.HasPrefix(id, "LK-") {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no demo order %q", id))
		return
	}
	o, ok, err := s.Orders.Store.Order(r.Context(), id)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	if !ok {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no demo order %q", id))
		return
	}
	p, err := s.newDemoPage(w, r, "Thank you")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	s.writeDemo(w, r, http.StatusOK, demo.Confirmation(p.chrome, demo.ConfirmationView{Order: o}))
}

// handleDemoMode serves GET /demo/mode?to=direct|proxy&back=/demo/...: it
// switches how the shop's browser events travel and returns to back.
func (s *Server) handleDemoMode(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	switch {
	case to == demo.ModeProxy && s.Demo.ProxyPrefix == "":
		httpx.Error(w, r, s.Logger, apperr.FieldErrorf("to", "the first-party proxy is off: start snippetd with SNIPPETD_PROXY=on"))
		return
	case to != demo.ModeDirect && to != demo.ModeProxy:
		httpx.Error(w, r, s.Logger, apperr.FieldErrorf("to", "must be direct or proxy"))
		return
	}
	setCookie(w, demoModeCookie, to, 30*24*3600)
	back := r.URL.Query().Get("back")
	if !strings.HasPrefix(back, "/demo/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		back = "/demo/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// handleDemoImage serves GET /demo/img/{file}: a product picture as SVG.
func (s *Server) handleDemoImage(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(mux.Vars(r)["file"], ".svg")
	it, found := demo.Find(id)
	if !ok || !found {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no picture %q", mux.Vars(r)["file"]))
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write([]byte(demo.Picture(it)))
}

// handleDemoStatic serves GET /demo/static/{file}: the shop's CSS and
// script and the local klaviyo.js stand-in (only in local-sink mode or with
// the demo's fake public key).
func (s *Server) handleDemoStatic(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["file"]
	if name == "klaviyo.js" && !s.demoStandIn() {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "the klaviyo.js stand-in is only served in local-sink mode or with the demo's fake public key"))
		return
	}
	b, err := fs.ReadFile(demo.Static, path.Join("static", name))
	if err != nil || strings.Contains(name, "/") {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no file %q", name))
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if strings.HasSuffix(name, ".js") {
		ct = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(b)
}

// handleDemoOnsite serves POST /demo/onsite (see inspect.ReportHandler).
func (s *Server) handleDemoOnsite(w http.ResponseWriter, r *http.Request) {
	(&inspect.ReportHandler{Ring: s.Demo.Ring, Metrics: s.browserHooks(), Logger: s.Logger}).ServeHTTP(w, r)
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
