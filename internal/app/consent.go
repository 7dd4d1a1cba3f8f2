package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/internal/outbox"
	"github.com/snippetd/snippetd/shop"
)

// consentSender delivers the outbox's consent jobs through the sender:
// Klaviyo's client, or the local sink, which records them like events.
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

// catalogHas checks a back-in-stock request's id against the catalog,
// once a catalog is configured (nil before: nothing to check against): a
// variant id, or the id of a product without variants (its own single
// variant in Klaviyo's terms). A catalog without any variants checks
// product ids only.
func catalogHas(cat *catalog.Catalog) func(context.Context, string) (bool, error) {
	if cat == nil {
		return nil
	}
	var idx variantIndex
	return func(_ context.Context, id string) (bool, error) {
		if !cat.Configured() {
			return true, nil
		}
		s, release := cat.Acquire()
		if s == nil {
			return true, nil
		}
		defer release()
		if s.VariantCount() == 0 {
			return s.Has(id), nil
		}
		variants, withVariants, err := idx.of(s)
		if err != nil {
			return false, err
		}
		if _, ok := variants[id]; ok {
			return true, nil
		}
		_, hasOwn := withVariants[id]
		return !hasOwn && s.Has(id), nil
	}
}

// variantIndex is the variant ids of the latest snapshot and the ids of
// the products that have variants, read once per snapshot (a snapshot
// never changes; a reload makes a new one).
type variantIndex struct {
	mu           sync.Mutex
	snap         *catalog.Snapshot
	variants     map[string]struct{}
	withVariants map[string]struct{}
}

func (x *variantIndex) of(s *catalog.Snapshot) (variants, withVariants map[string]struct{}, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.snap != s {
		v, w := make(map[string]struct{}, s.VariantCount()), map[string]struct{}{}
		if err := s.EachVariant(func(cv catalog.Variant) error {
			v[cv.ID], w[cv.Item] = struct{}{}, struct{}{}
			return nil
		}); err != nil {
			return nil, nil, err
		}
		// Holding s here does not keep its files open: a retired
		// snapshot closes them when its last reader releases it, and the
		// pointer is only compared.
		x.snap, x.variants, x.withVariants = s, v, w
	}
	return x.variants, x.withVariants, nil
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
