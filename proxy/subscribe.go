package proxy

import (
	"context"
	"net/http"
	"strings"
	"unicode"

	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/strictjson"
)

// Subscriber stores what a browser's signup and back-in-stock forms send
// (*consent.Service).
type Subscriber interface {
	Subscribe(ctx context.Context, subs []consent.Subscription, historicalAllowed bool) (consent.Accepted, error)
	RequestBackInStock(ctx context.Context, b consent.BackInStock) (consent.Accepted, error)
}

// subscribeRoutes mounts {prefix}subscribe and {prefix}back-in-stock when
// the proxy has a Subscriber.
func (p *Proxy) subscribeRoutes(r *mux.Router) {
	if p.opts.Subscriber == nil {
		return
	}
	r.HandleFunc(p.opts.Prefix+"subscribe", p.handleSubscribe).Methods("POST")
	r.HandleFunc(p.opts.Prefix+"subscribe", p.handlePreflight).Methods("OPTIONS")
	r.HandleFunc(p.opts.Prefix+"back-in-stock", p.handleBackInStock).Methods("POST")
	r.HandleFunc(p.opts.Prefix+"back-in-stock", p.handlePreflight).Methods("OPTIONS")
}

// browserSignup is what a browser may claim in a signup: one email and/or
// phone number, the channels, and a short label of the form. Never a list
// (the configured ones are used) and never historical_import: the strict
// decode refuses both, naming them.
type browserSignup struct {
	Email       string            `json:"email"`
	PhoneNumber string            `json:"phone_number"`
	Channels    *consent.Channels `json:"channels"`
	Source      string            `json:"source"`
}

// maxSignupSource bounds the form's label a browser sends.
const maxSignupSource = 64

// handleSubscribe serves POST {prefix}subscribe: a signup form's
// subscription, stored and delivered from the server as a bulk subscribe
// job. The signup is the shopper's consent itself, so it is taken even
// when the proxy requires tracking consent. Origin and rate limit as
// {prefix}i.
func (p *Proxy) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	if _, err := p.admit(w, r); err != nil {
		p.fail(w, r, err)
		return
	}
	body, err := p.readBody(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var in browserSignup
	if err := strictjson.Decode(body, &in); err != nil {
		p.fail(w, r, err)
		return
	}
	if len(in.Source) > maxSignupSource || strings.ContainsFunc(in.Source, unicode.IsControl) {
		p.fail(w, r, apperr.FieldErrorf("source", "must be at most %d characters without control characters", maxSignupSource))
		return
	}
	ch := in.Channels
	if ch == nil {
		ch = &consent.Channels{Email: in.Email != "", SMS: in.PhoneNumber != ""}
	}
	source := "snippetd signup"
	if in.Source != "" {
		source = "snippetd signup: " + in.Source
	}
	sub := consent.Subscription{Email: in.Email, PhoneNumber: in.PhoneNumber, Channels: ch, Source: source}
	if _, err := p.opts.Subscriber.Subscribe(r.Context(), []consent.Subscription{sub}, false); err != nil {
		if apperr.ErrorCode(err) == apperr.EUNAVAILABLE {
			w.Header().Set("Retry-After", "5")
		}
		p.fail(w, r, err)
		return
	}
	writeResult(w, result{Accepted: 1})
}

// handleBackInStock serves POST {prefix}back-in-stock: a "notify me"
// button's request for a catalog variant, stored and delivered from the
// server. Origin and rate limit as {prefix}i.
func (p *Proxy) handleBackInStock(w http.ResponseWriter, r *http.Request) {
	if _, err := p.admit(w, r); err != nil {
		p.fail(w, r, err)
		return
	}
	body, err := p.readBody(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var in consent.BackInStock
	if err := strictjson.Decode(body, &in); err != nil {
		p.fail(w, r, err)
		return
	}
	if _, err := p.opts.Subscriber.RequestBackInStock(r.Context(), in); err != nil {
		if apperr.ErrorCode(err) == apperr.EUNAVAILABLE {
			w.Header().Set("Retry-After", "5")
		}
		p.fail(w, r, err)
		return
	}
	writeResult(w, result{Accepted: 1})
}
