package app

import (
	"context"

	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
)

// consentSender delivers the outbox's consent jobs when the sender is
// Klaviyo's client (the local sink takes events only: jobs wait).
func consentSender(s klaviyo.Sender) outbox.JobSender {
	if c, ok := s.(consent.Client); ok {
		return consent.Sender{Client: c}
	}
	return nil
}

// newConsent builds the consent service on the outbox: the configured
// lists, the catalog for back-in-stock requests, and every store that may
// hold a person for erasure.
func (m *Main) newConsent(ob *outbox.Outbox, cat *catalog.Catalog) *consent.Service {
	return &consent.Service{Jobs: ob, ListID: m.Config.ListID, SMSListID: m.Config.SMSListID, DefaultCountry: m.Config.DefaultCountry,
		Variants: catalogHas(cat), Erasers: []consent.Eraser{consent.OutboxEraser(ob)}}
}

// catalogHas checks a back-in-stock request's variant against the
// catalog's ids, once a catalog is configured (nil before: nothing to
// check against).
func catalogHas(cat *catalog.Catalog) func(context.Context, string) (bool, error) {
	if cat == nil {
		return nil
	}
	return func(_ context.Context, id string) (bool, error) {
		if !cat.Configured() {
			return true, nil
		}
		s, release := cat.Acquire()
		if s == nil {
			return true, nil
		}
		defer release()
		return s.Has(id), nil
	}
}
