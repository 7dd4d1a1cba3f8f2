package klaviyotest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

const (
	itemJob = `{"data":{"type":"catalog-item-bulk-create-job","attributes":{"items":{"data":[{"type":"catalog-item","attributes":{"external_id":"mug","integration_type":"$custom","catalog_type":"$default","title":"Mug","description":"A mug","url":"https://s.example/mug"}}]}}}}`
	variant = `{"type":"catalog-variant","attributes":{"external_id":"%s","catalog_type":"$default","integration_type":"$custom","title":"Mug %[1]s","description":"A mug","sku":"SKU-%[1]s","inventory_quantity":%d,"price":12.5,"url":"https://s.example/mug"},"relationships":{"item":{"data":{"type":"catalog-item","id":"$custom:::$default:::%s"}}}}`
	bisBody = `{"data":{"type":"back-in-stock-subscription","attributes":{"channels":["EMAIL","SMS"],"profile":{"data":{"type":"profile","attributes":{"email":"a@example.com","phone_number":"+15005550006"}}}},"relationships":{"variant":{"data":{"type":"catalog-variant","id":"$custom:::$default:::mug-m"}}}}}`
)

func variantJob(kind string, vs ...string) string {
	return `{"data":{"type":"catalog-variant-bulk-` + kind + `-job","attributes":{"variants":{"data":[` + strings.Join(vs, ",") + `]}}}}`
}

// Variants live under their item, through the three bulk jobs checked
// against their slices; per-variant failures are job errors.
func TestCatalogVariants(t *testing.T) {
	s := klaviyotest.NewServer(t)
	if st, _, b := do(t, s, req{path: klaviyotest.PathCatalogBulkCreate, body: itemJob}); st != 202 {
		t.Fatalf("item job: %d %s", st, b)
	}
	st, _, b := do(t, s, req{path: klaviyotest.PathCatalogVariantBulkCreate, body: variantJob("create",
		fmt.Sprintf(variant, "mug-m", 0, "mug"), fmt.Sprintf(variant, "mug-l", 3, "mug"), fmt.Sprintf(variant, "pen-1", 1, "pen"))})
	if st != 202 || !strings.Contains(b, `"failed_count":1`) || !strings.Contains(b, "No catalog item with id $custom:::$default:::pen") {
		t.Fatalf("create job: %d %s", st, b)
	}
	upd := `{"type":"catalog-variant","id":"$custom:::$default:::mug-m","attributes":{"inventory_quantity":7}}`
	if st, _, b := do(t, s, req{path: klaviyotest.PathCatalogVariantBulkUpdate, body: variantJob("update", upd,
		`{"type":"catalog-variant","id":"$custom:::$default:::nope","attributes":{"inventory_quantity":1}}`)}); st != 202 || !strings.Contains(b, "No catalog variant") {
		t.Fatalf("update job: %d %s", st, b)
	}
	vs := s.CatalogVariants()
	if got := fmt.Sprintf("%v %v %v %v", len(vs), vs["$custom:::$default:::mug-m"].Attributes["inventory_quantity"], vs["$custom:::$default:::mug-m"].Attributes["sku"], vs["$custom:::$default:::mug-l"].Item); got != "2 7 SKU-mug-m $custom:::$default:::mug" {
		t.Errorf("variants after update: %s", got)
	}
	if st, _, b := do(t, s, req{path: klaviyotest.PathCatalogVariantBulkDelete, body: variantJob("delete", `{"type":"catalog-variant","id":"$custom:::$default:::mug-l"}`)}); st != 202 {
		t.Fatalf("delete job: %d %s", st, b)
	}
	if _, ok := s.CatalogVariants()["$custom:::$default:::mug-l"]; ok || len(s.CatalogVariants()) != 1 {
		t.Errorf("variants after delete: %v", s.CatalogVariants())
	}
	// Deleting the item takes its variants.
	do(t, s, req{path: klaviyotest.PathCatalogBulkDelete, body: `{"data":{"type":"catalog-item-bulk-delete-job","attributes":{"items":{"data":[{"type":"catalog-item","id":"$custom:::$default:::mug"}]}}}}`})
	if n := len(s.CatalogVariants()); n != 0 {
		t.Errorf("%d variants outlive their item", n)
	}
	for _, tt := range []struct{ name, path, body string }{
		{"create without sku", klaviyotest.PathCatalogVariantBulkCreate, variantJob("create", strings.Replace(fmt.Sprintf(variant, "x", 1, "mug"), `"sku":"SKU-x",`, "", 1))},
		{"create without item", klaviyotest.PathCatalogVariantBulkCreate, variantJob("create", strings.Replace(fmt.Sprintf(variant, "x", 1, "mug"), `,"relationships":{"item":{"data":{"type":"catalog-item","id":"$custom:::$default:::mug"}}}`, "", 1))},
		{"empty job", klaviyotest.PathCatalogVariantBulkUpdate, variantJob("update")},
		{"update without id", klaviyotest.PathCatalogVariantBulkUpdate, variantJob("update", `{"type":"catalog-variant","attributes":{"inventory_quantity":1}}`)},
		{"wrong job type", klaviyotest.PathCatalogVariantBulkDelete, variantJob("update", `{"type":"catalog-variant","id":"a"}`)},
	} {
		if st, _, b := do(t, s, req{path: tt.path, body: tt.body}); st != 400 {
			t.Errorf("%s: %d %s, want 400", tt.name, st, b)
		}
	}
}

// The client back-in-stock endpoint: public key, no private key, the
// slice's shape, each channel's identifier and an existing variant.
func TestClientBackInStock(t *testing.T) {
	s := klaviyotest.NewServer(t)
	s.PutCatalogVariant("$custom:::$default:::mug-m", "$custom:::$default:::mug", map[string]any{"inventory_quantity": 0})
	path := klaviyotest.PathClientBackInStock + "?company_id=" + klaviyotest.CompanyID
	st, h, b := do(t, s, req{path: path, auth: "-", body: bisBody})
	if st != 202 || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("valid request: %d %s (CORS %q)", st, b, h.Get("Access-Control-Allow-Origin"))
	}
	subs := s.BackInStockSubscriptions()
	if len(subs) != 1 || subs[0].Variant != "$custom:::$default:::mug-m" || subs[0].ProfileKey != "email:a@example.com" || strings.Join(subs[0].Channels, ",") != "EMAIL,SMS" {
		t.Errorf("recorded %+v", subs)
	}
	for _, tt := range []struct {
		name, path, auth, body string
		status                 int
	}{
		{"private key", path, "", bisBody, 400},
		{"no company_id", klaviyotest.PathClientBackInStock, "-", bisBody, 400},
		{"unknown variant", path, "-", strings.Replace(bisBody, "mug-m", "mug-xl", 1), 404},
		{"bad variant id", path, "-", strings.Replace(bisBody, "$custom:::$default:::mug-m", "mug-m", 1), 400},
		{"SMS without E.164 phone", path, "-", strings.Replace(bisBody, "+15005550006", "5005550006", 1), 400},
		{"EMAIL without email", path, "-", strings.Replace(bisBody, `"email":"a@example.com",`, "", 1), 400},
		{"no channel", path, "-", strings.Replace(bisBody, `"EMAIL","SMS"`, "", 1), 400},
		{"unknown channel", path, "-", strings.Replace(bisBody, `"SMS"`, `"FAX"`, 1), 400},
		{"no relationships", path, "-", strings.Replace(bisBody, `,"relationships":{"variant":{"data":{"type":"catalog-variant","id":"$custom:::$default:::mug-m"}}}`, "", 1), 400},
	} {
		if st, _, b := do(t, s, req{path: tt.path, auth: tt.auth, body: tt.body}); st != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, st, b, tt.status)
		}
	}
	if n := len(s.BackInStockSubscriptions()); n != 1 {
		t.Errorf("%d subscriptions recorded, want the valid one only", n)
	}
}
