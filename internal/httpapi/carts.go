package httpapi

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/carts"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/proxy"
	"github.com/snippetd/snippetd/shop"
)

// CartRestore is what the server needs for cart restore links: set Carts
// to serve them (nil: their routes answer 404).
type CartRestore struct {
	// Carts remembers carts and resolves restore tokens.
	Carts *carts.Service
	// Limiter rate-limits GET /r/{token} per client IP (nil: no limit).
	Limiter *proxy.Limiter
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client.
	TrustedProxies []netip.Prefix
	// Visits shows each restore visit in the inspector (nil: not shown).
	Visits RestoreRecorder
}

// RestoreRecorder records restore visits for the inspector
// (inspect.Ring): the outcome, and the cart id of a restored one.
type RestoreRecorder interface {
	RecordRestore(outcome, cartID string)
}

var errNoCarts = apperr.Errorf(apperr.ENOTFOUND, "cart restore links are off (set SNIPPETD_PUBLIC_URL and SNIPPETD_CART_RESTORE_URL)")

// observeRestore counts a restore visit by outcome.
func (s *Server) observeRestore(outcome string) {
	if s.Metrics != nil {
		s.Metrics.ObserveCartRestore(outcome)
	}
}

// handleCartRedirect serves GET /r/{token}, the restore link of an email:
// 303 to the shop's restore URL with the cart's lines and the link's
// query string, or a small page linking to the shop's home (404 for a
// token that is not one of ours, 410 for an expired one).
func (s *Server) handleCartRedirect(w http.ResponseWriter, r *http.Request) {
	c := s.CartRestore.Carts
	if c == nil {
		httpx.Error(w, r, s.Logger, errNoCarts)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if l := s.CartRestore.Limiter; l != nil {
		ip := proxy.ClientIP(r, s.CartRestore.TrustedProxies)
		if ok, wait := l.Allow(limiterKey(ip), time.Now()); !ok {
			s.observeRestore("rate_limited")
			h.Set("Retry-After", strconv.Itoa(max(1, int(wait.Seconds()+0.999))))
			writeRestorePage(w, http.StatusTooManyRequests, "Too many requests", "Please wait a moment and open the link again.", c.Template().Home())
			return
		}
	}
	tok := mux.Vars(r)["token"]
	v, outcome, err := c.Restore(r.Context(), tok)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	s.observeRestore(string(outcome))
	if rv := s.CartRestore.Visits; rv != nil {
		rv.RecordRestore(string(outcome), v.CartID)
	}
	switch outcome {
	case carts.Invalid:
		writeRestorePage(w, http.StatusNotFound, "This cart link is not valid", "The link may have been cut short or changed.", c.Template().Home())
	case carts.Expired:
		writeRestorePage(w, http.StatusGone, "This cart link has expired", "The cart it kept is no longer saved.", c.Template().Home())
	default:
		http.Redirect(w, r, c.RedirectURL(v, tok, r.URL.RawQuery), http.StatusSeeOther)
	}
}

// limiterKey groups IPv6 clients by /64 (one subscriber's network), IPv4
// clients by address, as the proxy does.
func limiterKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

var restorePage = template.Must(template.New("restore").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}a{color:#0a58ca}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p><p><a id="home" href="{{.Home}}">Continue to the shop</a></p></body></html>
`))

func writeRestorePage(w http.ResponseWriter, status int, title, text, home string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	restorePage.Execute(w, struct{ Title, Text, Home string }{title, text, home})
}

// CartPut is the body of PUT /v1/carts/{id}.
type CartPut struct {
	Items []shop.LineItem `json:"items"`
}

// CartLink is the answer of PUT /v1/carts/{id}.
type CartLink struct {
	CartID string `json:"cart_id"`
	// RestoreURL is the cart's restore link ({public url}/r/{token}), for
	// the shop's own CheckoutURL or emails.
	RestoreURL string `json:"restore_url"`
}

// MaxCartID is the longest cart id the carts API takes, in bytes.
const MaxCartID = 255

// handleCartPut serves PUT /v1/carts/{id}: the shop's server remembers a
// cart ({"items": [...]}, line items as in the render API) and gets its
// restore link.
func (s *Server) handleCartPut(w http.ResponseWriter, r *http.Request) {
	c := s.CartRestore.Carts
	if c == nil {
		httpx.Error(w, r, s.Logger, errNoCarts)
		return
	}
	id := mux.Vars(r)["id"]
	if len(id) > MaxCartID {
		httpx.Error(w, r, s.Logger, apperr.FieldErrorf("id", "must be at most %d bytes", MaxCartID))
		return
	}
	body, err := httpx.ReadBody(w, r, s.MaxBodyBytes, "application/json")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	var in struct {
		Items *[]shop.LineItem `json:"items"`
	}
	if err := strictjson.Decode(body, &in); err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	if in.Items == nil || len(*in.Items) == 0 {
		httpx.Error(w, r, s.Logger, apperr.FieldErrorf("items", "must hold at least one line"))
		return
	}
	for i, l := range *in.Items {
		if err := l.Validate(fmt.Sprintf("items[%d]", i)); err != nil {
			httpx.Error(w, r, s.Logger, err)
			return
		}
	}
	link, err := c.Put(r.Context(), shop.Cart{ID: id, Items: *in.Items})
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, CartLink{CartID: id, RestoreURL: link})
}

// handleCartRestoreLines serves GET /v1/carts/restore/{token}: the lines of
// the cart version a restore token names, for shops that rebuild the cart
// on their server ({token} in the restore URL template). 404 for a token
// that is not one of ours, 410 for an expired one.
func (s *Server) handleCartRestoreLines(w http.ResponseWriter, r *http.Request) {
	c := s.CartRestore.Carts
	if c == nil {
		httpx.Error(w, r, s.Logger, errNoCarts)
		return
	}
	v, outcome, err := c.Restore(r.Context(), mux.Vars(r)["token"])
	switch {
	case err != nil:
		httpx.Error(w, r, s.Logger, err)
	case outcome == carts.Invalid:
		httpx.Error(w, r, s.Logger, &apperr.Error{Code: apperr.ENOTFOUND, Field: "token", Message: "is not a restore token of this server"})
	case outcome == carts.Expired:
		// The error funnel has no 410: this is its body, with the code
		// of a missing resource.
		var body httpx.ErrorBody
		body.Error.Code, body.Error.Field, body.Error.Message = apperr.ENOTFOUND, "token", "the cart link has expired"
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusGone, body)
	default:
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, v)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
		status = http.StatusInternalServerError
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
