package app

import (
	"os"
	"strings"
	"testing"
)

// TestBackInStockChecksCatalogVariants: with a catalog that has variants,
// /v1/back-in-stock takes a variant id and the id of a product without
// variants, and refuses (422 naming variant_id) an unknown id and the
// product id of a product that has variants (Klaviyo subscribes to a
// variant, not to the product).
func TestBackInStockChecksCatalogVariants(t *testing.T) {
	catalogFile := t.TempDir() + "/products.json"
	os.WriteFile(catalogFile, []byte(`[
		{"id":"tee","name":"Tee","url":"https://shop.example/tee","image_url":"https://shop.example/tee.jpg","description":"A tee","price":20,
		 "variants":[{"id":"tee-s","inventory_quantity":0},{"id":"tee-m","inventory_quantity":3}]},
		{"id":"mug","name":"Mug","url":"https://shop.example/mug","image_url":"https://shop.example/mug.jpg","description":"A mug","price":9.5}]`), 0o600)
	m, _ := startProxyMainEnv(t, map[string]string{"SNIPPETD_API_TOKEN": "tok", "SNIPPETD_LIST_ID": "AbC123", "SNIPPETD_CATALOG_FILE": catalogFile})
	bearer := []string{"Authorization", "Bearer tok"}
	for _, c := range []struct {
		id   string
		want int
	}{
		{"tee-s", 202},
		{"$custom:::$default:::tee-m", 202},
		{"mug", 202},
		{"tee", 422},
		{"tee-xl", 422},
	} {
		st, got := post(t, m.Server.URL()+"/v1/back-in-stock", `{"variant_id":"`+c.id+`","email":"bis@example.com"}`, bearer...)
		if st != c.want || st == 422 && (!strings.Contains(got, `"field":"variant_id"`) || !strings.Contains(got, c.id)) {
			t.Errorf("back in stock for %q: %d %s, want %d", c.id, st, got, c.want)
		}
	}
}
