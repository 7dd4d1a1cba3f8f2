package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/shop"
)

// migrations are the catalog's tables in the shared database; append
// only. catalog_state holds one row per named counter: "products" is
// bumped by every write so that each instance notices changes;
// catalog_sync remembers what the Catalog API sync last sent.
var migrations = []string{
	`CREATE TABLE catalog_products (id TEXT PRIMARY KEY, data TEXT NOT NULL)`,
	`CREATE TABLE catalog_state (name TEXT PRIMARY KEY, version BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
	`INSERT INTO catalog_state (name, version, updated_at) VALUES ('products', 0, 0)`,
	`CREATE TABLE catalog_sync (external_id TEXT PRIMARY KEY, hash TEXT NOT NULL, published INTEGER NOT NULL, synced_at BIGINT NOT NULL)`,
	`CREATE TABLE catalog_sync_variants (external_id TEXT PRIMARY KEY, item_id TEXT NOT NULL, hash TEXT NOT NULL, synced_at BIGINT NOT NULL)`,
}

// store is the catalog's part of the shared database.
type store struct{ d *db.DB }

func (s store) migrate(ctx context.Context) error { return s.d.Migrate(ctx, "catalog", migrations) }

// version returns the products' change counter and the time of the last
// change (zero before the first write).
func (s store) version(ctx context.Context) (int64, time.Time, error) {
	var v, at int64
	err := s.d.QueryRowContext(ctx, `SELECT version, updated_at FROM catalog_state WHERE name = 'products'`).Scan(&v, &at)
	if err != nil {
		return 0, time.Time{}, err
	}
	var t time.Time
	if at > 0 {
		t = time.UnixMilli(at)
	}
	return v, t, nil
}

// apiFieldNames maps feed field names back to the request's (shop.Product)
// names for API errors.
var apiFieldNames = map[string]string{"title": "name", "link": "url", "image_link": "image_url"}

// validateProducts checks a PUT or PATCH body before anything is written:
// every product must be one the feed can serve, and no id may repeat.
// The error names the field, such as "[3].image_url"; currency is the
// shop's, whose minor units bound the prices' decimals.
func validateProducts(ps []Product, currency string) error {
	seen := make(map[string]int, len(ps))
	for i, cp := range ps {
		p := cp.Product
		it, fprob := itemOf(cp)
		kind, prob := it.check()
		custom := kind == "" && fprob != nil
		if custom {
			kind, prob = KindInvalid, *fprob
		}
		if cp, bad := it.inCurrency(currency); kind == "" && bad {
			kind, prob = KindInvalid, cp
		}
		if vp, bad := checkVariants(p); kind == "" && bad {
			kind, prob = KindInvalid, vp
		}
		if kind != "" {
			f := prob.Field
			if n, ok := apiFieldNames[f]; ok && !custom {
				f = n
			}
			return apperr.FieldErrorf(fmt.Sprintf("[%d].%s", i, f), "%s", prob.Message)
		}
		for j, v := range p.Variants {
			if d, ok := shop.CurrencyDigits(currency); ok && v.Price.Places() > d {
				return apperr.FieldErrorf(fmt.Sprintf("[%d].variants[%d].price", i, j), "has more decimals than %s's %d", currency, d)
			}
		}
		if j, dup := seen[p.ID]; dup {
			return apperr.FieldErrorf(fmt.Sprintf("[%d].id", i), "repeats the id of [%d]", j)
		}
		seen[p.ID] = i
	}
	return nil
}

// inCurrency returns ps with every amount scaled to currency's minor
// units, so that the stored JSON keeps them exactly (validateProducts has
// checked their decimals); "" keeps cents.
func inCurrency(ps []Product, currency string) []Product {
	d, ok := shop.CurrencyDigits(currency)
	if !ok {
		return ps
	}
	out := make([]Product, len(ps))
	for i, cp := range ps {
		p := cp.Product
		if p.Price.IsSet() {
			p.Price = p.Price.In(d)
		}
		if p.CompareAtPrice.IsSet() {
			p.CompareAtPrice = p.CompareAtPrice.In(d)
		}
		if len(p.Variants) > 0 {
			vs := make([]shop.Variant, len(p.Variants))
			copy(vs, p.Variants)
			for j := range vs {
				if vs[j].Price.IsSet() {
					vs[j].Price = vs[j].Price.In(d)
				}
			}
			p.Variants = vs
		}
		out[i] = Product{Product: p, Fields: cp.Fields}
	}
	return out
}

// write stores ps in one transaction: replace removes every other product
// first (PUT), otherwise products are upserted (PATCH). The change counter
// is bumped first, which also serialises concurrent writers on PostgreSQL.
func (s store) write(ctx context.Context, ps []Product, replace bool) error {
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE catalog_state SET version = version + 1, updated_at = ? WHERE name = 'products'`), time.Now().UnixMilli()); err != nil {
		return err
	}
	if replace {
		if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_products`); err != nil {
			return err
		}
	}
	stmt, err := tx.PrepareContext(ctx, s.d.Rebind(`INSERT INTO catalog_products (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data`))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, p := range ps {
		data, err := storedJSON(p, json.Marshal)
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, p.ID, string(data)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// load streams every stored product, in id order (byte order on both
// databases), into b.
func (s store) load(ctx context.Context, b *builder) error {
	q := `SELECT data FROM catalog_products ORDER BY id`
	if s.d.Dialect == db.Postgres {
		q = `SELECT data FROM catalog_products ORDER BY id COLLATE "C"`
	}
	rows, err := s.d.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	var data []byte
	for pos := 1; rows.Next(); pos++ {
		if err := rows.Scan(&data); err != nil {
			return err
		}
		p, prob := decodeProduct(data, pos)
		if prob != nil {
			b.reject(KindInvalid, *prob)
			continue
		}
		if err := b.add(pos, p); err != nil {
			return err
		}
	}
	return rows.Err()
}
