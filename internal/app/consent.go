package app

import (
	"context"
	"errors"
	"time"

	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/internal/outbox"
	"github.com/snippetd/snippetd/shop"
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
	svc := &consent.Service{Jobs: ob, ListID: m.Config.ListID, SMSListID: m.Config.SMSListID, DefaultCountry: m.Config.DefaultCountry,
		Variants: catalogHas(cat), Erasers: []consent.Eraser{consent.OutboxEraser(ob)}}
	if m.Orders != nil {
		st := m.Orders.Store
		svc.Erasers = append(svc.Erasers, consent.Eraser{Name: "orders", Erase: func(ctx context.Context, p consent.Person) (int64, error) {
			return st.Erase(ctx, p.Needles())
		}})
	}
	if m.Inspector != nil && m.Inspector.Ring != nil {
		ring := m.Inspector.Ring
		svc.Erasers = append(svc.Erasers, consent.Eraser{Name: "inspector", Erase: func(_ context.Context, p consent.Person) (int64, error) {
			return int64(ring.Erase(p.Needles())), nil
		}})
	}
	svc.Scrub = scrubFor(m.DB)
	return svc
}

// sqliteScrub runs an erasure's deletes with secure_delete on and then
// moves the write-ahead log into the file and truncates it, so that the
// erased bytes are in neither the database file nor its log afterwards.
// secure_delete stays on for the write connection (the pool's only one):
// an update that moves a row or drops it from an index frees the old
// bytes, and they must be zeroed then, not at the erasure, for an erasure
// to leave nothing behind.
func sqliteScrub(d *db.DB) func(ctx context.Context, erase func(context.Context) error) error {
	return func(ctx context.Context, erase func(context.Context) error) error {
		if _, err := d.Write.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
			return err
		}
		if err := erase(ctx); err != nil {
			return err
		}
		var err error
		for range 50 {
			var busy, frames, done int
			if err = d.Write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err == nil && busy == 0 {
				return nil
			}
			if err == nil {
				err = errors.New("the write-ahead log stayed busy; it is truncated at a later checkpoint")
			}
			time.Sleep(20 * time.Millisecond)
		}
		return err
	}
}

// secureDelete turns secure_delete on for SQLite's write connection (see
// sqliteScrub).
func secureDelete(ctx context.Context, d *db.DB) error {
	if d.Dialect != db.SQLite {
		return nil
	}
	_, err := d.Write.ExecContext(ctx, `PRAGMA secure_delete = ON`)
	return err
}

// scrubFor is sqliteScrub on SQLite; PostgreSQL's deleted rows are gone
// from every query at once (and from its files at the next vacuum).
func scrubFor(d *db.DB) func(ctx context.Context, erase func(context.Context) error) error {
	if d.Dialect == db.SQLite {
		return sqliteScrub(d)
	}
	return nil
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

// demoSubscriber is the consent service as the demo shop's Subscriber.
type demoSubscriber struct {
	svc    *consent.Service
	orders *orders.Service
}

func (d demoSubscriber) Subscribe(ctx context.Context, email, source string) error {
	_, err := d.svc.Subscribe(ctx, []consent.Subscription{{Email: email, Channels: &consent.Channels{Email: true}, Source: source}}, false)
	return demoError(err)
}

func (d demoSubscriber) PlaceOrderWithOffers(ctx context.Context, o shop.Order, offers bool) error {
	req := orders.PlaceRequest{Order: o}
	if offers {
		req.MarketingConsent = &orders.MarketingConsent{Email: true}
	}
	_, err := d.orders.PlaceWithConsent(ctx, req)
	return demoError(err)
}
