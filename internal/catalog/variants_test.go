package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/shop"
)

func qty(n int64) *int64 { return &n }

// variantProduct is product i with n variants "v<i>-<j>" holding stock[j]
// (or 5) units.
func variantProduct(i, n int, stock ...int64) shop.Product {
	p := shop.Product{ID: fmt.Sprintf("p%05d", i), Name: fmt.Sprintf("Shirt %d", i), URL: fmt.Sprintf("https://s.example/p/%d", i),
		ImageURL: fmt.Sprintf("https://s.example/i/%d.jpg", i), Description: "A shirt", Price: shop.Cents(1250)}
	for j := 0; j < n; j++ {
		q := int64(5)
		if j < len(stock) {
			q = stock[j]
		}
		p.Variants = append(p.Variants, shop.Variant{ID: fmt.Sprintf("v%05d-%d", i, j), Title: fmt.Sprintf("Shirt %d size %d", i, j), InventoryQuantity: qty(q)})
	}
	return p
}

// The feed carries a product's total stock (Klaviyo's custom feed has no
// variants); variants are checked, and one variant id belongs to one
// product.
func TestVariantsInTheFeed(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, Options{DB: testDBs(t)["sqlite"], Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	own := variantProduct(2, 2, 4, 4)
	own.InventoryQuantity = qty(1)
	if err := c.Put(ctx, []shop.Product{variantProduct(1, 3, 2, 0, 7), own, variantProduct(3, 0)}); err != nil {
		t.Fatal(err)
	}
	snap, release := c.Acquire()
	var got []string
	snap.Each(func(it Item) error {
		q := "none"
		if it.InventoryQuantity != nil {
			q = fmt.Sprint(*it.InventoryQuantity)
		}
		got = append(got, it.ID+"="+q)
		return nil
	})
	var vs []string
	snap.EachVariant(func(v Variant) error {
		vs = append(vs, fmt.Sprintf("%s/%s %s %s %d %s", v.Item, v.ID, v.SKU, v.Price, v.InventoryQuantity, v.Link))
		return nil
	})
	release()
	if d := cmp.Diff([]string{"p00001=9", "p00002=1", "p00003=none"}, got); d != "" {
		t.Errorf("feed stock (-want +got):\n%s", d)
	}
	want := []string{
		"p00001/v00001-0 v00001-0 12.5 2 https://s.example/p/1", "p00001/v00001-1 v00001-1 12.5 0 https://s.example/p/1",
		"p00001/v00001-2 v00001-2 12.5 7 https://s.example/p/1", "p00002/v00002-0 v00002-0 12.5 4 https://s.example/p/2",
		"p00002/v00002-1 v00002-1 12.5 4 https://s.example/p/2",
	}
	if d := cmp.Diff(want, vs); d != "" {
		t.Errorf("variants (-want +got):\n%s", d)
	}

	for _, tt := range []struct {
		name  string
		edit  func(p *shop.Product)
		field string
	}{
		{"variant without id", func(p *shop.Product) { p.Variants[1].ID = " " }, "[0].variants[1].id"},
		{"variant without stock", func(p *shop.Product) { p.Variants[0].InventoryQuantity = nil }, "[0].variants[0].inventory_quantity"},
		{"repeated variant", func(p *shop.Product) { p.Variants[1].ID = p.Variants[0].ID }, "[0].variants[1].id"},
		{"negative price", func(p *shop.Product) { p.Variants[0].Price = shop.Cents(-1) }, "[0].variants[0].price"},
		{"bad url", func(p *shop.Product) { p.Variants[0].URL = "ftp://x" }, "[0].variants[0].url"},
		{"bad policy", func(p *shop.Product) { p.Variants[0].InventoryPolicy = 3 }, "[0].variants[0].inventory_policy"},
	} {
		p := variantProduct(9, 2)
		tt.edit(&p)
		err := c.Put(ctx, []shop.Product{p})
		if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != tt.field {
			t.Errorf("%s: %v (field %q), want field %q", tt.name, err, apperr.ErrorField(err), tt.field)
		}
	}
	// Two products claiming one variant: the second is left out.
	dup := variantProduct(5, 1)
	dup.Variants[0].ID = "v00001-0"
	if err := c.Patch(ctx, []shop.Product{dup}); err != nil {
		t.Fatal(err)
	}
	if inv := c.Problems().Invalid; inv.Count != 1 || inv.Products[0].ID != "p00005" || inv.Products[0].Field != "variants[0].id" {
		t.Errorf("invalid products: %+v", inv)
	}
}

// fastAPI lifts the client's Catalog API buckets so that the big sync
// below runs at the fake's speed, not at 75 jobs a second.
type fastAPI struct{ *klaviyo.Client }

func (f fastAPI) SetBuckets(path string, _ klaviyo.Buckets) {
	f.Client.SetBuckets(path, klaviyo.Buckets{Burst: 100_000, Steady: 1_000_000})
}

// A catalog of 10,000 products and 50,000 variants syncs in item jobs and
// variant jobs of at most 100; then a restock of 100 variants (an
// inventory-only PATCH) sends one variant update job carrying only the
// inventory, and nothing else.
func TestSyncVariantsAndRestock(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs 60,000 catalog resources")
	}
	ctx := context.Background()
	fake := klaviyotest.NewServer(t)
	for _, p := range []string{PathBulkCreate, PathVariantBulkCreate, PathVariantBulkUpdate} {
		fake.SetLimits(p, klaviyotest.Limits{})
	}
	client, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, Options{Mode: ModeAPI, DB: testDBs(t)["sqlite"], Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const products, perProduct, restocked = 10_000, 5, 100
	ps := make([]shop.Product, products)
	for i := range ps {
		ps[i] = variantProduct(i, perProduct, 0) // each product's first variant is sold out
	}
	if err := c.Put(ctx, ps); err != nil {
		t.Fatal(err)
	}
	api := fastAPI{client}
	start := time.Now()
	res, err := c.Sync(ctx, api, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sync of %d products and %d variants: %d jobs in %v", products, products*perProduct, res.Jobs, time.Since(start))
	if d := cmp.Diff(SyncResult{Create: products, VariantCreate: products * perProduct, Jobs: products/100 + products*perProduct/100}, res); d != "" {
		t.Errorf("first sync (-want +got):\n%s", d)
	}
	vs := fake.CatalogVariants()
	if len(vs) != products*perProduct || len(fake.CatalogItems()) != products {
		t.Fatalf("Klaviyo holds %d items and %d variants", len(fake.CatalogItems()), len(vs))
	}
	if v := vs["$custom:::$default:::v00042-3"]; v.Item != "$custom:::$default:::p00042" || v.Attributes["sku"] != "v00042-3" || fmt.Sprint(v.Attributes["inventory_quantity"]) != "5" {
		t.Errorf("variant v00042-3 in Klaviyo: %+v", v)
	}
	if res, err := c.Sync(ctx, api, SyncOptions{}); err != nil || !cmp.Equal(res, SyncResult{Unchanged: products, VariantUnchanged: products * perProduct}) {
		t.Fatalf("second sync: %+v %v", res, err)
	}

	// Restock: the sold-out variant of 100 products gets 3 units.
	c.SetAPI(api)
	before := len(fake.Requests())
	patch := make([]shop.Product, restocked)
	for i := range patch {
		patch[i] = shop.Product{ID: ps[i*97].ID, Variants: []shop.Variant{{ID: ps[i*97].Variants[0].ID, InventoryQuantity: qty(3)}}}
	}
	start = time.Now()
	if err := c.Patch(ctx, patch); err != nil {
		t.Fatal(err)
	}
	patched := time.Since(start)
	var reqs []klaviyotest.Request
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if reqs = fake.Requests()[before:]; len(reqs) > 0 && reqs[len(reqs)-1].Status != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restock never reached Klaviyo")
		}
	}
	c.bg.Wait()
	reqs = fake.Requests()[before:]
	t.Logf("restock of %d variants: PATCH returned after %v; the variant update reached the fake %v after the PATCH started", restocked, patched, reqs[0].At.Sub(start))
	if len(reqs) != 1 || reqs[0].Path != PathVariantBulkUpdate || reqs[0].Status != 202 {
		for _, r := range reqs {
			t.Logf("%s %s %d", r.Method, r.Path, r.Status)
		}
		t.Fatalf("the restock sent %d requests, want one variant update job", len(reqs))
	}
	var doc struct {
		Data struct {
			Attributes struct {
				Variants struct {
					Data []struct {
						ID         string
						Attributes map[string]any
					}
				}
			}
		}
	}
	if err := json.Unmarshal(reqs[0].Body, &doc); err != nil {
		t.Fatal(err)
	}
	sent := doc.Data.Attributes.Variants.Data
	if len(sent) != restocked {
		t.Fatalf("the job carries %d variants, want %d", len(sent), restocked)
	}
	for _, v := range sent {
		if len(v.Attributes) != 1 || fmt.Sprint(v.Attributes["inventory_quantity"]) != "3" || !strings.HasSuffix(v.ID, "-0") {
			t.Fatalf("restock sent %s with %v, want only inventory_quantity 3", v.ID, v.Attributes)
		}
	}
	vs = fake.CatalogVariants()
	if v := vs["$custom:::$default:::v00097-0"]; fmt.Sprint(v.Attributes["inventory_quantity"]) != "3" || v.Attributes["title"] != "Shirt 97 size 0" {
		t.Errorf("restocked variant in Klaviyo: %+v", v.Attributes)
	}
	if v := vs["$custom:::$default:::v00098-0"]; fmt.Sprint(v.Attributes["inventory_quantity"]) != "0" {
		t.Errorf("a variant not restocked changed: %+v", v.Attributes)
	}
	// What was sent is remembered: a full sync finds nothing to send.
	if res, err := c.Sync(ctx, api, SyncOptions{}); err != nil || !cmp.Equal(res, SyncResult{Unchanged: products, VariantUnchanged: products * perProduct}) {
		t.Errorf("sync after the restock: %+v %v", res, err)
	}

	// A restock names what it does not know.
	for _, tt := range []struct {
		p     shop.Product
		field string
	}{
		{shop.Product{ID: "nope", Variants: []shop.Variant{{ID: "v", InventoryQuantity: qty(1)}}}, "[0].id"},
		{shop.Product{ID: ps[1].ID, Variants: []shop.Variant{{ID: "v00002-0", InventoryQuantity: qty(1)}}}, "[0].variants[0].id"},
		{shop.Product{ID: ps[1].ID, Variants: []shop.Variant{{ID: ps[1].Variants[0].ID, InventoryQuantity: qty(-1)}}}, "[0].variants[0].inventory_quantity"},
	} {
		if err := c.Patch(ctx, []shop.Product{tt.p}); apperr.ErrorField(err) != tt.field {
			t.Errorf("restock %+v: %v, want field %s", tt.p, err, tt.field)
		}
	}
}
