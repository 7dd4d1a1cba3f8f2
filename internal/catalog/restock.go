package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/snippetd/snippetd/internal/apperr"
)

// SetAPI gives the catalog the Catalog API client it sends restocks with
// in ModeAPI (the server's Klaviyo client). Without one, a restock only
// updates the stored products and the next `snippetd catalog sync` sends
// the inventory.
func (c *Catalog) SetAPI(api APIClient) {
	c.apiMu.Lock()
	c.api = api
	c.apiMu.Unlock()
}

// isRestock reports whether a PATCH body only changes inventory: every
// product carries just its id and variants, and every variant just its id,
// inventory_quantity and (optionally) inventory_policy.
func isRestock(ps []Product) bool {
	if len(ps) == 0 {
		return false
	}
	for _, p := range ps {
		bare := p.SKU == "" && p.Name == "" && p.URL == "" && p.ImageURL == "" && len(p.Categories) == 0 && p.Brand == "" &&
			!p.Price.IsSet() && !p.CompareAtPrice.IsSet() && p.Description == "" && p.InventoryQuantity == nil && p.InventoryPolicy == 0
		if !bare || len(p.Fields) > 0 || p.ID == "" || len(p.Variants) == 0 {
			return false
		}
		for _, v := range p.Variants {
			if v.ID == "" || v.InventoryQuantity == nil || v.SKU != "" || v.Title != "" || v.Price.IsSet() || v.ImageURL != "" || v.URL != "" {
				return false
			}
		}
	}
	return true
}

// restock applies an inventory-only PATCH: the stored products' variants
// get their new quantities (and policies), the feed reloads, and in
// ModeAPI the changed variants go to Klaviyo at once as variant bulk
// update jobs carrying the inventory only — no item jobs, no full sync —
// so that back-in-stock flows fire promptly. The send runs in the
// background; PATCH answers once the products are stored.
func (c *Catalog) restock(ctx context.Context, ps []Product) error {
	merged := make([]Product, 0, len(ps))
	var old, cur []Variant
	for i, p := range ps {
		stored, err := c.store.product(ctx, p.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.FieldErrorf(fmt.Sprintf("[%d].id", i), "is not a stored product (an inventory-only PATCH updates the variants of existing products)")
		}
		if err != nil {
			return err
		}
		before := variantsOf(stored.Product, ItemOf(stored.Product))
		at := make(map[string]int, len(stored.Variants))
		for j, v := range stored.Variants {
			at[v.ID] = j
		}
		changed := map[int]bool{}
		for j, v := range p.Variants {
			k, ok := at[v.ID]
			if !ok {
				return apperr.FieldErrorf(fmt.Sprintf("[%d].variants[%d].id", i, j), "is not a variant of product %q", p.ID)
			}
			if *v.InventoryQuantity < 0 {
				return apperr.FieldErrorf(fmt.Sprintf("[%d].variants[%d].inventory_quantity", i, j), "must not be negative")
			}
			q := *v.InventoryQuantity
			stored.Variants[k].InventoryQuantity = &q
			if v.InventoryPolicy != 0 {
				stored.Variants[k].InventoryPolicy = v.InventoryPolicy
			}
			changed[k] = true
		}
		after := variantsOf(stored.Product, ItemOf(stored.Product))
		for k := range stored.Variants {
			if changed[k] {
				old, cur = append(old, before[k]), append(cur, after[k])
			}
		}
		merged = append(merged, stored)
	}
	if err := c.write(ctx, merged, false); err != nil {
		return err
	}
	c.apiMu.Lock()
	api := c.api
	c.apiMu.Unlock()
	if c.opts.Mode != ModeAPI || api == nil {
		return nil
	}
	state, err := c.store.variantState(ctx)
	if err != nil {
		return err
	}
	ops := make([]op, len(cur))
	for i := range cur {
		ops[i] = op{kind: "update", id: cur[i].ID, v: &cur[i], restock: true}
		// Remember the variant as sent only when Klaviyo had the rest of
		// it already; otherwise the next full sync still sends it whole.
		if st, ok := state[cur[i].ID]; ok && st.hash == variantHash(old[i]) {
			ops[i].hash = variantHash(cur[i])
		}
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		start := time.Now()
		res, err := c.sendRestock(c.bgCtx, api, ops)
		if err != nil {
			c.opts.Logger.Error("catalog restock: sending to Klaviyo failed; the next catalog sync sends it", "variants", len(ops), "err", err)
			return
		}
		c.opts.Logger.Info("catalog restock sent", "variants", res.VariantUpdate, "jobs", res.Jobs, "failed", res.Failed, "took", time.Since(start))
	}()
	return nil
}

// sendRestock sends restock updates as variant update jobs; variants
// Klaviyo does not have yet are created whole.
func (c *Catalog) sendRestock(ctx context.Context, api APIClient, ops []op) (SyncResult, error) {
	res := SyncResult{VariantUpdate: len(ops)}
	for _, p := range []string{PathVariantBulkCreate, PathVariantBulkUpdate} {
		api.SetBuckets(p, APIBuckets)
	}
	r := syncRun{c: c, api: api, opts: SyncOptions{Out: io.Discard, MaxAttempts: 8, JobPoll: time.Second, JobTimeout: 10 * time.Minute}, res: &res}
	for _, o := range r.send(ctx, PathVariantBulkUpdate, ops) {
		o.hash = variantHash(*o.v)
		r.flip(ctx, PathVariantBulkCreate, "create", []op{o})
	}
	if r.err == nil && res.Failed > 0 {
		r.err = fmt.Errorf("%d variants were not accepted; first: %v", res.Failed, res.Errors)
	}
	return res, r.err
}

// product reads one stored product, custom fields included so that a
// restock writes them back.
func (s store) product(ctx context.Context, id string) (Product, error) {
	var data []byte
	if err := s.d.QueryRowContext(ctx, s.d.Rebind(`SELECT data FROM catalog_products WHERE id = ?`), id).Scan(&data); err != nil {
		return Product{}, err
	}
	var p Product
	return p, jsonv2.Unmarshal(data, &p, decodeOpts)
}
