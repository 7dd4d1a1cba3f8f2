package demo

import (
	"context"
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

	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

func cards(base string, items []Item) []ProductCard {
	out := make([]ProductCard, len(items))
	for i, it := range items {
		out[i] = ProductCard{Item: it, Product: it.WithURLs(base)}
	}
	return out
}

// handleHome serves GET /demo/: the product list.
func (s *Shop) handleHome(w http.ResponseWriter, r *http.Request) {
	p, err := s.newPage(w, r, "Shop")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.write(w, r, http.StatusOK, Home(p.chrome, cards(baseURL(r), Catalog)))
}

// handleProduct serves GET /demo/products/{id}: a product page. In direct
// mode it renders the Viewed Product snippet (recorded for the inspector
// as source render); in proxy mode the helper reports the view to the
// proxy instead.
func (s *Shop) handleProduct(w http.ResponseWriter, r *http.Request) {
	it, ok := findAny(r.PathValue("id"))
	if !ok {
		s.fail(w, r, errorf(http.StatusNotFound, "not_found", "no product %q", r.PathValue("id")))
		return
	}
	p, err := s.newPage(w, r, it.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := baseURL(r)
	v := ProductView{Item: it, Product: it.WithURLs(base)}
	for _, other := range Catalog {
		if other.ID != it.ID && len(v.Related) < 3 {
			v.Related = append(v.Related, ProductCard{Item: other, Product: other.WithURLs(base)})
		}
	}
	if p.chrome.Mode == ModeDirect {
		start := time.Now()
		sn := snippets.ViewedProduct(v.Product)
		pushes, err := sn.Pushes()
		status := http.StatusOK
		if err != nil {
			e, _ := asError(err)
			status = e.Status
		}
		if s.o.Renders != nil {
			s.o.Renders.ObserveRender(viewedProduct, status, time.Since(start))
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.Viewed = sn
		if s.o.Rendered != nil {
			raw := make([]json.RawMessage, len(pushes))
			for i, p := range pushes {
				raw[i] = json.RawMessage(p)
			}
			s.o.Rendered.RecordRender(p.view, raw)
		}
	}
	s.write(w, r, http.StatusOK, Product(p.chrome, v))
}

// handleCart serves GET /demo/cart.
func (s *Shop) handleCart(w http.ResponseWriter, r *http.Request) {
	p, err := s.newPage(w, r, "Cart")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.write(w, r, http.StatusOK, CartPage(p.chrome))
}

// handleCartChange serves POST /demo/cart/add and /demo/cart/remove (form
// id, quantity): it updates the cart cookie and answers {"count": n} to
// shop.js, or redirects to the cart without JavaScript.
func (s *Shop) handleCartChange(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, errorf(http.StatusBadRequest, "bad_request", "malformed form"))
		return
	}
	id := r.PostForm.Get("id")
	if _, ok := Find(id); !ok {
		s.fail(w, r, fieldErrorf("id", "no product %q", id))
		return
	}
	lines := ParseCart(cookieValue(r, cartCookie))
	if strings.HasSuffix(r.URL.Path, "/remove") {
		lines = RemoveLine(lines, id)
	} else {
		q := int64(1)
		if v := r.PostForm.Get("quantity"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > MaxQuantity {
				s.fail(w, r, fieldErrorf("quantity", "must be a whole number from 1 to %d", MaxQuantity))
				return
			}
			q = n
		}
		lines = AddLine(lines, id, q)
	}
	setCookie(w, cartCookie, FormatCart(lines), 30*24*3600)
	if wantsJSON(r.Header.Get("Accept")) {
		writeJSON(w, http.StatusOK, map[string]int64{"count": Count(lines)})
		return
	}
	http.Redirect(w, r, "/demo/cart", http.StatusSeeOther)
}

// handleCheckout serves GET /demo/checkout.
func (s *Shop) handleCheckout(w http.ResponseWriter, r *http.Request) {
	p, err := s.newPage(w, r, "Checkout")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(p.lines) == 0 {
		http.Redirect(w, r, "/demo/cart", http.StatusSeeOther)
		return
	}
	s.write(w, r, http.StatusOK, Checkout(p.chrome, CheckoutView{Cart: p.chrome.Cart, Form: CheckoutForm{Country: "United States"}}))
}

// handlePlaceOrder serves POST /demo/checkout: it places the cart as an
// order through Orders (whose events go into snippetd's outbox), empties
// the cart and redirects to the confirmation.
func (s *Shop) handlePlaceOrder(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, errorf(http.StatusBadRequest, "bad_request", "malformed form"))
		return
	}
	p, err := s.newPage(w, r, "Checkout")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(p.lines) == 0 {
		http.Redirect(w, r, "/demo/cart", http.StatusSeeOther)
		return
	}
	f := CheckoutForm{}
	for k, dst := range map[string]*string{"email": &f.Email, "first_name": &f.FirstName, "last_name": &f.LastName, "address1": &f.Address1, "city": &f.City, "zip": &f.Zip, "country": &f.Country} {
		*dst = strings.TrimSpace(r.PostForm.Get(k))
		if len(*dst) > 200 {
			*dst = (*dst)[:200]
		}
	}
	f.Offers = r.PostForm.Get("offers") == "yes"
	fail := func(msg string) {
		s.write(w, r, http.StatusUnprocessableEntity, Checkout(p.chrome, CheckoutView{Cart: p.chrome.Cart, Form: f, Error: msg}))
	}
	if a, err := mail.ParseAddress(f.Email); err != nil || a.Address != f.Email {
		fail("Please enter a valid email address.")
		return
	}
	if s.o.Orders == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "unavailable", "the orders API is not configured"))
		return
	}
	addr := &shop.Address{FirstName: f.FirstName, LastName: f.LastName, Address1: f.Address1, City: f.City, Zip: f.Zip, Country: f.Country}
	o := shop.Order{
		ID: "LK-" + strings.ToUpper(randomID(4)), PlacedAt: time.Now().UTC().Truncate(time.Second), Currency: "USD",
		Customer: shop.Customer{Email: f.Email, FirstName: f.FirstName, LastName: f.LastName, Address: addr},
		Items:    p.chrome.Cart.Items, BillingAddress: addr, ShippingAddress: addr,
	}
	place := s.o.Orders.PlaceOrder
	if s.o.Subscriber != nil {
		place = func(ctx context.Context, o shop.Order) error {
			return s.o.Subscriber.PlaceOrderWithOffers(ctx, o, f.Offers)
		}
	}
	if err := place(r.Context(), o); err != nil {
		if e, _ := asError(err); e.Code == "invalid" || e.Code == "bad_request" {
			fail(fmt.Sprintf("%s (%s)", e.Message, e.Field))
			return
		}
		s.fail(w, r, err)
		return
	}
	setCookie(w, cartCookie, "", -1)
	setCookie(w, cartIDCookie, "", -1)
	http.Redirect(w, r, "/demo/orders/"+o.ID, http.StatusSeeOther)
}

// handleOrder serves GET /demo/orders/{id}: the confirmation of an order
// placed in the demo (ids start with LK-, so no other order is shown).
func (s *Shop) handleOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.o.Orders == nil || !strings.HasPrefix(id, "LK-") {
		s.fail(w, r, errorf(http.StatusNotFound, "not_found", "no demo order %q", id))
		return
	}
	o, ok, err := s.o.Orders.Order(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.fail(w, r, errorf(http.StatusNotFound, "not_found", "no demo order %q", id))
		return
	}
	p, err := s.newPage(w, r, "Thank you")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.write(w, r, http.StatusOK, Confirmation(p.chrome, ConfirmationView{Order: o}))
}

// handleMode serves GET /demo/mode?to=direct|proxy&back=/demo/...: it
// switches how the shop's browser events travel and returns to back (only
// a path of the shop, so the link cannot redirect elsewhere).
func (s *Shop) handleMode(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	switch {
	case to == ModeProxy && s.o.ProxyPrefix == "":
		s.fail(w, r, fieldErrorf("to", "the first-party proxy is off: start snippetd with SNIPPETD_PROXY=on"))
		return
	case to != ModeDirect && to != ModeProxy:
		s.fail(w, r, fieldErrorf("to", "must be direct or proxy"))
		return
	}
	setCookie(w, modeCookie, to, 30*24*3600)
	back := r.URL.Query().Get("back")
	if !strings.HasPrefix(back, "/demo/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		back = "/demo/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// handleImage serves GET /demo/img/{file}: a product picture as SVG.
func (s *Shop) handleImage(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	it, found := findAny(id)
	if !ok || !found {
		s.fail(w, r, errorf(http.StatusNotFound, "not_found", "no picture %q", r.PathValue("file")))
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write([]byte(Picture(it)))
}

// handleStatic serves GET /demo/static/{file}: the shop's CSS and script
// and the local klaviyo.js stand-in (only in local-sink mode or with the
// demo's fake public key, so that a shop with a real key never runs it).
func (s *Shop) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "klaviyo.js" && !s.standIn() {
		s.fail(w, r, errorf(http.StatusNotFound, "not_found", "the klaviyo.js stand-in is only served in local-sink mode or with the demo's fake public key"))
		return
	}
	b, err := fs.ReadFile(Static, path.Join("static", name))
	if err != nil || strings.Contains(name, "/") {
		s.fail(w, r, errorf(http.StatusNotFound, "not_found", "no file %q", name))
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
