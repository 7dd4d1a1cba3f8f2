package demo

import (
	"context"
	"net/http"
	"net/mail"
	"strings"

	"github.com/snippetd/snippetd/shop"
)

// Subscriber takes the shop's marketing consent: the newsletter signup
// (posted to the shop in direct mode) and the checkout's "email me offers"
// box, which goes with the order.
type Subscriber interface {
	// Subscribe subscribes email to the configured list with source as
	// its custom source.
	Subscribe(ctx context.Context, email, source string) error
	// PlaceOrderWithOffers places o with marketing_consent.email set when
	// offers is true (nothing otherwise: an unticked box is no
	// unsubscribe).
	PlaceOrderWithOffers(ctx context.Context, o shop.Order, offers bool) error
}

// newsletterSource is the custom source of the demo's newsletter signups.
const newsletterSource = "Larkspur Goods newsletter"

// handleSubscribe serves POST /demo/subscribe: the newsletter form in
// direct mode (in proxy mode shop.js posts it to the proxy's
// {prefix}subscribe). It redirects back to the page with a notice.
func (s *Shop) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, errorf(http.StatusBadRequest, "bad_request", "malformed form"))
		return
	}
	if s.o.Subscriber == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "unavailable", "signups are not configured"))
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		s.fail(w, r, errorf(http.StatusUnprocessableEntity, "invalid", "please enter a valid email address"))
		return
	}
	if err := s.o.Subscriber.Subscribe(r.Context(), email, newsletterSource); err != nil {
		s.fail(w, r, err)
		return
	}
	back := "/demo/"
	if ref := r.Referer(); ref != "" {
		if i := strings.Index(ref, "/demo/"); i >= 0 {
			back = ref[i:]
		}
	}
	if i := strings.IndexByte(back, '?'); i >= 0 {
		back = back[:i]
	}
	http.Redirect(w, r, back+"?subscribed=1", http.StatusSeeOther)
}
