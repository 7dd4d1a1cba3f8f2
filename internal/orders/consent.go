package orders

import (
	"context"
	"time"

	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/shop"
)

// MarketingConsent is an order's marketing_consent: what the shopper
// ticked at checkout. Only an explicit true subscribes; false or absent
// changes nothing (not ticking a box is not an unsubscribe).
type MarketingConsent struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
	// ConsentedAt is when the shopper consented (default: the order's
	// time for a backfilled order, now otherwise).
	ConsentedAt time.Time `json:"consented_at,omitzero"`
}

// PlaceRequest is the body of POST /v1/orders: an order with its
// marketing consent.
type PlaceRequest struct {
	shop.Order       `json:",inline"`
	MarketingConsent *MarketingConsent `json:"marketing_consent,omitempty"`
}

// ConsentSink stores an order's subscription (consent.Service).
type ConsentSink interface {
	SubscribeOrder(ctx context.Context, c consent.OrderConsent) error
}

// orderConsent is what o's consent asks consent to store; historical for
// a backfilled order (no confirmation mail, no "added to list" flow).
func orderConsent(o shop.Order, mc *MarketingConsent, historical bool) (consent.OrderConsent, bool) {
	if mc == nil || !mc.Email && !mc.SMS {
		return consent.OrderConsent{}, false
	}
	c := consent.OrderConsent{OrderID: o.ID, Email: o.Customer.Email, PhoneNumber: o.Customer.PhoneNumber,
		EmailConsent: mc.Email, SMSConsent: mc.SMS, ConsentedAt: mc.ConsentedAt, Historical: historical, Source: "snippetd order"}
	if historical {
		c.Source = "snippetd backfill"
		if c.ConsentedAt.IsZero() {
			c.ConsentedAt = o.PlacedAt
		}
	}
	return c, true
}

// PlaceWithConsent is Place, then the subscription the order's explicit
// consent asks for, stored once per order however often it is re-sent.
func (s *Service) PlaceWithConsent(ctx context.Context, req PlaceRequest) ([]string, error) {
	ids, err := s.Place(ctx, req.Order)
	if err != nil {
		return nil, err
	}
	// The consent names the customer as the events do: normalised (a
	// phone that cannot be is left out, and so is its SMS consent).
	o, _, err := Prepare(req.Order, s.Defaults, "")
	if err != nil {
		return nil, err
	}
	if c, ok := orderConsent(o, req.MarketingConsent, false); ok {
		if s.Consent == nil {
			return nil, errNoSender
		}
		if err := s.Consent.SubscribeOrder(ctx, c); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
