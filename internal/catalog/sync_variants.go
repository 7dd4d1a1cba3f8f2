package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/snippetd/snippetd/shop"
)

// apiVariant is a catalog variant as the Catalog API takes it. Create
// needs every field but the image (and Klaviyo's ids); update sends the
// same set minus the ids, or (a restock) only the inventory.
type apiVariant struct {
	ExternalID        string      `json:"external_id,omitempty"`
	CatalogType       string      `json:"catalog_type,omitempty"`
	IntegrationType   string      `json:"integration_type,omitempty"`
	Title             string      `json:"title,omitempty"`
	Description       string      `json:"description,omitempty"`
	SKU               string      `json:"sku,omitempty"`
	InventoryPolicy   *int        `json:"inventory_policy,omitempty"`
	InventoryQuantity *int64      `json:"inventory_quantity,omitempty"`
	Price             *shop.Money `json:"price,omitempty"`
	URL               string      `json:"url,omitempty"`
	ImageFullURL      string      `json:"image_full_url,omitempty"`
	Published         *bool       `json:"published,omitempty"`
}

func variantAttrs(v Variant) apiVariant {
	q, price := v.InventoryQuantity, v.Price
	a := apiVariant{Title: v.Title, Description: v.Description, SKU: v.SKU, InventoryQuantity: &q, Price: &price, URL: v.Link, ImageFullURL: v.ImageLink}
	if v.InventoryPolicy != 0 {
		p := v.InventoryPolicy
		a.InventoryPolicy = &p
	}
	return a
}

// stockAttrs are the attributes of a restock: the inventory only.
func stockAttrs(v Variant) apiVariant {
	a := variantAttrs(v)
	return apiVariant{InventoryQuantity: a.InventoryQuantity, InventoryPolicy: a.InventoryPolicy}
}

// variantHash identifies what was sent for a variant, its item included
// (a variant moved to another item is sent again).
func variantHash(v Variant) string {
	b, _ := json.Marshal(struct {
		Item string     `json:"item"`
		A    apiVariant `json:"a"`
	}{v.Item, variantAttrs(v)})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// variantSyncState is what catalog_sync_variants remembers of one variant.
type variantSyncState struct{ item, hash string }

func (s store) variantState(ctx context.Context) (map[string]variantSyncState, error) {
	rows, err := s.d.QueryContext(ctx, `SELECT external_id, item_id, hash FROM catalog_sync_variants`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]variantSyncState{}
	for rows.Next() {
		var id string
		var st variantSyncState
		if err := rows.Scan(&id, &st.item, &st.hash); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

// planVariants compares the snapshot's variants with what the last runs
// sent: new ones are created, changed ones updated, and those that left
// the source deleted (a variant has no history worth keeping unpublished).
func (c *Catalog) planVariants(ctx context.Context, snap *Snapshot, res *SyncResult) (creates, updates, deletes []op, err error) {
	state, err := c.store.variantState(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	err = snap.EachVariant(func(v Variant) error {
		h := variantHash(v)
		st, known := state[v.ID]
		delete(state, v.ID)
		switch {
		case !known:
			creates = append(creates, op{kind: "create", id: v.ID, hash: h, v: &v})
		case st.hash != h:
			updates = append(updates, op{kind: "update", id: v.ID, hash: h, v: &v})
		default:
			res.VariantUnchanged++
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	gone := make([]string, 0, len(state))
	for id := range state {
		gone = append(gone, id)
	}
	sort.Strings(gone)
	for _, id := range gone {
		deletes = append(deletes, op{kind: "delete", id: id, v: &Variant{ID: id, Item: state[id].item}})
	}
	res.VariantCreate, res.VariantUpdate, res.VariantDelete = len(creates), len(updates), len(deletes)
	return creates, updates, deletes, nil
}

// variantJobBody is the body of a variant bulk job; a restock update
// sends the inventory only.
func variantJobBody(path string, ops []op) ([]byte, error) {
	var doc jobDoc
	doc.Data.Type = map[string]string{PathVariantBulkCreate: "catalog-variant-bulk-create-job",
		PathVariantBulkUpdate: "catalog-variant-bulk-update-job", PathVariantBulkDelete: "catalog-variant-bulk-delete-job"}[path]
	doc.Data.Attributes.Variants = &jobList{}
	t := true
	for _, o := range ops {
		ji := jobItem{Type: "catalog-variant"}
		switch o.kind {
		case "create":
			a := variantAttrs(*o.v)
			a.ExternalID, a.IntegrationType, a.CatalogType, a.Published = o.id, "$custom", "$default", &t
			ji.Attributes = &a
			ji.Relationships = &relationships{}
			ji.Relationships.Item.Data.Type, ji.Relationships.Item.Data.ID = "catalog-item", apiID(o.v.Item)
		case "update":
			a := variantAttrs(*o.v)
			if o.restock {
				a = stockAttrs(*o.v)
			}
			ji.ID, ji.Attributes = apiID(o.id), &a
		case "delete":
			ji.ID = apiID(o.id)
		}
		doc.Data.Attributes.Variants.Data = append(doc.Data.Attributes.Variants.Data, ji)
	}
	return json.Marshal(doc)
}
