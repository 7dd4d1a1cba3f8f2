package httpapi

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/httpx"
)

// The feed carries sku, brand and compare_at_price as flat custom fields
// in both formats, with the shop currency's decimals, exactly.
func TestCatalogFeedCustomFieldsAndCurrency(t *testing.T) {
	auth := []string{"Authorization", "Bearer " + testToken, "Content-Type", "application/json"}
	prod := func(id, extra string) string {
		return `{"id":"` + id + `","name":"N","url":"https://s.example/` + id + `","image_url":"https://s.example/i.jpg","description":"d"` + extra + `}`
	}
	type feedItem struct {
		ID             string          `json:"id" xml:"id"`
		SKU            string          `json:"sku" xml:"sku"`
		Brand          string          `json:"brand" xml:"brand"`
		Price          json.RawMessage `json:"price" xml:"-"`
		CompareAtPrice json.RawMessage `json:"compare_at_price" xml:"-"`
		XMLPrice       string          `json:"-" xml:"price"`
		XMLCompare     string          `json:"-" xml:"compare_at_price"`
	}
	for _, tc := range []struct {
		currency, price, compare string
	}{
		{"", "19.5", "25"},
		{"KWD", "1.234", "2.005"},
		{"JPY", "1500", "2000"},
	} {
		t.Run("currency "+tc.currency, func(t *testing.T) {
			s := catalogServer(t, catalog.Options{Currency: tc.currency})
			body := "[" + prod("a", `,"sku":"SKU-1","brand":"Acme & Co","price":`+tc.price+`,"compare_at_price":`+tc.compare) + "," + prod("b", `,"price":`+tc.price) + "]"
			if w := do(s, "PUT", "/v1/catalog/products", body, auth...); w.Code != 200 {
				t.Fatalf("PUT: %d %s", w.Code, w.Body)
			}
			var js []feedItem
			w := do(s, "GET", "/catalog.json", "")
			if err := json.Unmarshal(w.Body.Bytes(), &js); err != nil {
				t.Fatal(err, w.Body)
			}
			var doc struct {
				Products []feedItem `xml:"Product"`
			}
			w = do(s, "GET", "/catalog.xml", "")
			if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatal(err, w.Body)
			}
			wantJSON := []feedItem{
				{ID: "a", SKU: "SKU-1", Brand: "Acme & Co", Price: json.RawMessage(tc.price), CompareAtPrice: json.RawMessage(tc.compare)},
				{ID: "b", Price: json.RawMessage(tc.price)},
			}
			if d := cmp.Diff(wantJSON, js); d != "" {
				t.Errorf("JSON feed (-want +got):\n%s", d)
			}
			wantXML := []feedItem{
				{ID: "a", SKU: "SKU-1", Brand: "Acme & Co", XMLPrice: tc.price, XMLCompare: tc.compare},
				{ID: "b", XMLPrice: tc.price},
			}
			if d := cmp.Diff(wantXML, doc.Products); d != "" {
				t.Errorf("XML feed (-want +got):\n%s", d)
			}
		})
	}
}

func TestCatalogRefusesControlIDsAndExtraDecimals(t *testing.T) {
	auth := []string{"Authorization", "Bearer " + testToken, "Content-Type", "application/json"}
	prod := func(id, extra string) string {
		return `{"id":` + id + `,"name":"N","url":"https://s.example/x","image_url":"https://s.example/i.jpg","description":"d"` + extra + `}`
	}
	for _, tc := range []struct {
		name, currency, body string
		field                string
	}{
		{"control character in id", "", "[" + prod(`"ok"`, "") + "," + prod(`"a\u0001b"`, "") + "]", "[1].id"},
		{"tab-free but NUL id", "USD", "[" + prod(`"a\u0000"`, "") + "]", "[0].id"},
		{"price decimals in USD", "USD", "[" + prod(`"a"`, `,"price":1.234`) + "]", "[0].price"},
		{"price decimals in JPY", "JPY", "[" + prod(`"a"`, `,"price":1500.5`) + "]", "[0].price"},
		{"compare_at_price decimals in KWD", "KWD", "[" + prod(`"a"`, `,"price":1.5,"compare_at_price":1.2345`) + "]", "[0].compare_at_price"},
		{"negative compare_at_price", "", "[" + prod(`"a"`, `,"compare_at_price":-1`) + "]", "[0].compare_at_price"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := catalogServer(t, catalog.Options{Currency: tc.currency})
			w := do(s, "PUT", "/v1/catalog/products", tc.body, auth...)
			var e httpx.ErrorBody
			json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != 422 || e.Error.Code != "invalid" || e.Error.Field != tc.field {
				t.Errorf("got %d %s, want 422 invalid %s", w.Code, w.Body, tc.field)
			}
			if w := do(s, "GET", "/catalog.json", ""); strings.TrimSpace(w.Body.String()) != "[]" {
				t.Errorf("nothing may be written: %s", w.Body)
			}
		})
	}
}

// A products file's id with a control character is left out and reported,
// never served as a different (cleaned) id.
func TestCatalogFileControlIDReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	row := func(id string) string {
		return `{"id":` + id + `,"name":"N","url":"https://s.example/x","image_url":"https://s.example/i.jpg","description":"d"}`
	}
	if err := os.WriteFile(path, []byte("["+row(`"good"`)+","+row(`"bad\u0007id"`)+"]"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := catalogServer(t, catalog.Options{File: path})
	var items []catalog.Item
	json.Unmarshal(do(s, "GET", "/catalog.json", "").Body.Bytes(), &items)
	if len(items) != 1 || items[0].ID != "good" {
		t.Errorf("feed = %+v, want only good", items)
	}
	var rep catalog.Report
	json.Unmarshal(do(s, "GET", "/v1/catalog/problems", "", "Authorization", "Bearer "+testToken).Body.Bytes(), &rep)
	g := rep.Invalid
	if g.Count != 1 || len(g.Products) != 1 || g.Products[0].Field != "id" || g.Products[0].Position != 2 || g.Products[0].ID != "bad\aid" {
		t.Errorf("invalid = %+v", g)
	}
}

// TestCatalogCustomFieldsPassThrough: a product's flat members that are not
// product fields are stored and written into both feeds, escaped, and kept
// by a later inventory-only PATCH.
func TestCatalogCustomFieldsPassThrough(t *testing.T) {
	s := catalogServer(t, catalog.Options{})
	auth := []string{"Authorization", "Bearer " + testToken, "Content-Type", "application/json"}
	const hostile = `Tom & Jerry's <"b">`
	body := `[{"id":"a","name":"N","url":"https://s.example/a","image_url":"https://s.example/i.jpg","description":"d",` +
		`"colour":"red","note":` + strconv.Quote(hostile) + `,"weight_kg":1.50,"on_sale":false,"gone":null,` +
		`"variants":[{"id":"a-1","title":"S","inventory_quantity":1}]}]`
	if w := do(s, "PUT", "/v1/catalog/products", body, auth...); w.Code != 200 {
		t.Fatalf("PUT: %d %s", w.Code, w.Body)
	}
	if w := do(s, "PATCH", "/v1/catalog/products", `[{"id":"a","variants":[{"id":"a-1","inventory_quantity":5}]}]`, auth...); w.Code != 200 {
		t.Fatalf("restock PATCH: %d %s", w.Code, w.Body)
	}
	want := map[string]string{"colour": "red", "note": hostile, "weight_kg": "1.50", "on_sale": "false"}

	w := do(s, "GET", "/catalog.json", "")
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &items); err != nil || len(items) != 1 {
		t.Fatalf("JSON feed: %v %s", err, w.Body)
	}
	got := map[string]string{}
	for name, v := range items[0] {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		got[name] = s
	}
	if string(items[0]["inventory_quantity"]) != "5" {
		t.Errorf("restock not applied: %s", w.Body)
	}
	if _, ok := items[0]["gone"]; ok {
		t.Errorf("a null custom field is written: %s", w.Body)
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("JSON feed %s = %q, want %q (%s)", name, got[name], v, w.Body)
		}
	}
	if string(items[0]["on_sale"]) != "false" || string(items[0]["weight_kg"]) != "1.50" {
		t.Errorf("JSON feed changes a number or boolean's type or text: %s", w.Body)
	}

	w = do(s, "GET", "/catalog.xml", "")
	var doc struct {
		Products []struct {
			Elems []struct {
				XMLName xml.Name
				Text    string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"Product"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil || len(doc.Products) != 1 {
		t.Fatalf("XML feed: %v %s", err, w.Body)
	}
	gotXML := map[string]string{}
	for _, e := range doc.Products[0].Elems {
		gotXML[e.XMLName.Local] = e.Text
	}
	for name, v := range want {
		if gotXML[name] != v {
			t.Errorf("XML feed %s = %q, want %q (%s)", name, gotXML[name], v, w.Body)
		}
	}
	if _, ok := gotXML["gone"]; ok {
		t.Errorf("a null custom field is written: %s", w.Body)
	}
}
