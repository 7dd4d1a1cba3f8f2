package httpapi

import (
	"bytes"
	"net/http"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/strictjson"
)

var errNoConsent = apperr.Errorf(apperr.EUNAVAILABLE, "the consent API is not configured on this server")

// consentBody reads a JSON body into v for the consent routes, or answers
// the error and returns false.
func (s *Server) consentBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if s.Consent == nil {
		httpx.Error(w, r, s.Logger, errNoConsent)
		return false
	}
	body, err := httpx.ReadBody(w, r, s.MaxBodyBytes, "application/json")
	if err == nil {
		err = strictjson.Decode(body, v)
	}
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return false
	}
	return true
}

// subscriptions reads one subscription object or an array of them.
func (s *Server) subscriptions(w http.ResponseWriter, r *http.Request) ([]consent.Subscription, bool) {
	if s.Consent == nil {
		httpx.Error(w, r, s.Logger, errNoConsent)
		return nil, false
	}
	body, err := httpx.ReadBody(w, r, s.MaxBodyBytes, "application/json")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return nil, false
	}
	var subs []consent.Subscription
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		err = strictjson.Decode(body, &subs)
	} else {
		var one consent.Subscription
		err = strictjson.Decode(body, &one)
		subs = []consent.Subscription{one}
	}
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return nil, false
	}
	return subs, true
}

// handleSubscriptions serves POST /v1/subscriptions: one subscription or
// an array; 202 once stored, delivered as Klaviyo bulk subscribe jobs.
func (s *Server) handleSubscriptions(w http.ResponseWriter, r *http.Request) {
	subs, ok := s.subscriptions(w, r)
	if !ok {
		return
	}
	acc, err := s.Consent.Subscribe(r.Context(), subs, true)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, acc)
}

// handleUnsubscriptions serves POST /v1/unsubscriptions: the same shape,
// delivered as bulk unsubscribe jobs.
func (s *Server) handleUnsubscriptions(w http.ResponseWriter, r *http.Request) {
	subs, ok := s.subscriptions(w, r)
	if !ok {
		return
	}
	acc, err := s.Consent.Unsubscribe(r.Context(), subs)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, acc)
}

// handleProfileUpsert serves POST /v1/profiles: a profile upsert, merged
// with a pending one for the same profile.
func (s *Server) handleProfileUpsert(w http.ResponseWriter, r *http.Request) {
	var p consent.Profile
	if !s.consentBody(w, r, &p) {
		return
	}
	acc, err := s.Consent.UpsertProfile(r.Context(), p)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, acc)
}

// handleProfileErase serves POST /v1/profiles/erase: Klaviyo's deletion
// job is stored, and what snippetd holds about the person is erased now;
// the answer counts it.
func (s *Server) handleProfileErase(w http.ResponseWriter, r *http.Request) {
	var p consent.Person
	if !s.consentBody(w, r, &p) {
		return
	}
	er, err := s.Consent.Erase(r.Context(), p)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, er)
}

// handleBackInStock serves POST /v1/back-in-stock: a back-in-stock request
// for a catalog variant, stored and delivered server-side.
func (s *Server) handleBackInStock(w http.ResponseWriter, r *http.Request) {
	var b consent.BackInStock
	if !s.consentBody(w, r, &b) {
		return
	}
	acc, err := s.Consent.RequestBackInStock(r.Context(), b)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, acc)
}
