package catalog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/snippetd/snippetd/shop"
)

// Variant is one product variant as the snapshot keeps it for the Catalog
// API sync: cleaned like the feed's items, with every field Klaviyo's
// variant requires filled in from its product when the variant leaves it
// out (title, description, SKU (the variant id), price, URL, image).
type Variant struct {
	// Item is the id of the variant's product.
	Item              string     `json:"item"`
	ID                string     `json:"id"`
	SKU               string     `json:"sku"`
	Title             string     `json:"title"`
	Description       string     `json:"description"`
	Price             shop.Money `json:"price,omitzero"`
	InventoryQuantity int64      `json:"inventory_quantity"`
	InventoryPolicy   int        `json:"inventory_policy,omitempty"`
	Link              string     `json:"link"`
	ImageLink         string     `json:"image_link,omitempty"`
}

// variantsOf maps p's variants, whose item is it, to snapshot variants.
func variantsOf(p shop.Product, it Item) []Variant {
	out := make([]Variant, 0, len(p.Variants))
	for _, v := range p.Variants {
		cv := Variant{
			Item: it.ID, ID: clean(v.ID), SKU: clean(v.SKU), Title: clean(v.Title), Description: it.Description,
			Price: v.Price, InventoryPolicy: v.InventoryPolicy, Link: clean(v.URL), ImageLink: clean(v.ImageURL),
		}
		if v.InventoryQuantity != nil {
			cv.InventoryQuantity = *v.InventoryQuantity
		}
		if strings.TrimSpace(cv.SKU) == "" {
			cv.SKU = cv.ID
		}
		if strings.TrimSpace(cv.Title) == "" {
			cv.Title = it.Title
		}
		if !cv.Price.IsSet() {
			cv.Price = it.Price
		}
		if !cv.Price.IsSet() {
			cv.Price = shop.Cents(0)
		}
		if strings.TrimSpace(cv.Link) == "" {
			cv.Link = it.Link
		}
		if strings.TrimSpace(cv.ImageLink) == "" {
			cv.ImageLink = it.ImageLink
		}
		out = append(out, cv)
	}
	return out
}

// totalStock is the feed's inventory_quantity of a product that gives
// none itself but has variants: the sum of theirs (Klaviyo's custom feed
// is one level deep, so the variants themselves cannot be in it). nil
// when a variant's quantity is unknown.
func totalStock(p shop.Product) *int64 {
	if p.InventoryQuantity != nil || len(p.Variants) == 0 {
		return p.InventoryQuantity
	}
	var n int64
	for _, v := range p.Variants {
		if v.InventoryQuantity == nil {
			return nil
		}
		n += max(*v.InventoryQuantity, 0)
	}
	return &n
}

// checkVariants returns the problem of p's variants, if any: each needs
// an id (unique within the product), an inventory quantity, a price that
// is not negative, a known inventory policy and http(s) URLs when given.
func checkVariants(p shop.Product) (Problem, bool) {
	seen := make(map[string]int, len(p.Variants))
	for i, v := range p.Variants {
		f := fmt.Sprintf("variants[%d].", i)
		var msg string
		switch {
		case strings.TrimSpace(v.ID) == "":
			f, msg = f+"id", "is required"
		case v.InventoryQuantity == nil:
			f, msg = f+"inventory_quantity", "is required (Klaviyo's back-in-stock flows watch it)"
		case v.Price.IsSet() && v.Price.Cents() < 0:
			f, msg = f+"price", "must not be negative"
		case v.InventoryPolicy != 0 && v.InventoryPolicy != 1 && v.InventoryPolicy != 2:
			f, msg = f+"inventory_policy", "must be 1 (hide when out of stock) or 2 (always show)"
		case v.URL != "" && !isWebURL(v.URL):
			f, msg = f+"url", "must be an absolute http(s) URL"
		case v.ImageURL != "" && !isWebURL(v.ImageURL):
			f, msg = f+"image_url", "must be an absolute http(s) URL"
		}
		if j, dup := seen[v.ID]; msg == "" && dup {
			f, msg = f+"id", fmt.Sprintf("repeats the id of variants[%d]", j)
		}
		if msg != "" {
			return Problem{ID: p.ID, Field: f, Message: msg}, true
		}
		seen[v.ID] = i
	}
	return Problem{}, false
}

// VariantCount is the number of variants the snapshot holds.
func (s *Snapshot) VariantCount() int { return s.vcount }

// EachVariant calls fn for every variant of the served products, in
// product order, stopping at the first error.
func (s *Snapshot) EachVariant(fn func(Variant) error) error {
	if s.vcount == 0 {
		return nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.vfile, 0, s.vsize), 64<<10)
	var line []byte
	for i := 0; i < s.vcount; i++ {
		var err error
		if line, err = readLine(r, line[:0]); err != nil {
			return err
		}
		var v Variant
		if err := json.Unmarshal(line, &v); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}
