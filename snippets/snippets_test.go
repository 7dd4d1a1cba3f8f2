package snippets

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

var update = flag.Bool("update", os.Getenv("UPDATE_GOLDEN") == "1", "rewrite testdata/*.golden")

// checkGolden compares got with testdata/name.golden, rewriting it when
// UPDATE_GOLDEN=1.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

var checkoutTime = time.Date(2013, 12, 17, 16, 57, 3, 0, time.UTC) // unix 1387299423, the guide's example

func goldenCases(t *testing.T) []struct {
	name string
	c    templ.Component
} {
	cart, added := seedCart(t)
	three := shop.Cart{ID: "c3", Items: []shop.LineItem{{
		Product: shop.Product{ID: "p1", Name: "Mug", Price: money(t, "19.99")}, Quantity: 3,
	}}}
	return []struct {
		name string
		c    templ.Component
	}{
		{"loader", Loader(LoaderOptions{PublicKey: "AbC123"})},
		{"loader-url-override", Loader(LoaderOptions{PublicKey: "AbC123", KlaviyoJSURL: "/kl/onsite/js/AbC123/klaviyo.js"})},
		{"viewed-product", ViewedProduct(fullProduct(t))},
		{"viewed-product-minimal", ViewedProduct(shop.Product{ID: "42", Name: "Plain", Price: money(t, "5")})},
		{"added-to-cart-seed", AddedToCart(cart, added)},
		{"added-to-cart-3x1999", AddedToCart(three, three.Items[0])},
		{"started-checkout-seed", StartedCheckout(cart, checkoutTime)},
		{"identify", Identify(shop.Customer{Email: "shopper@example.com", PhoneNumber: "+15551234567", ExternalID: "u-1", FirstName: "John", LastName: "Smith"})},
		{"identify-email-only", Identify(shop.Customer{Email: "shopper@example.com"})},
	}
}

func TestGolden(t *testing.T) {
	for _, tt := range goldenCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, tt.c, "r4nd0m")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name, got)
		})
	}
}

// TestNonce checks that every script element carries the nonce when one is
// set and no nonce attribute at all otherwise.
func TestNonce(t *testing.T) {
	for _, tt := range goldenCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			for _, nonce := range []string{"", `n"<>&'1`} {
				html, err := render(t, tt.c, nonce)
				if err != nil {
					t.Fatal(err)
				}
				scripts, err := parseScripts(html)
				if err != nil {
					t.Fatal(err)
				}
				if len(scripts) == 0 {
					t.Fatal("no script element")
				}
				for i, s := range scripts {
					got, ok := s.Attrs["nonce"]
					if nonce == "" && ok {
						t.Errorf("script %d has nonce %q without one set", i, got)
					}
					if nonce != "" && got != nonce {
						t.Errorf("script %d nonce = %q, want %q", i, got, nonce)
					}
				}
			}
		})
	}
}

// guideAddedToCart and guideStartedCheckout are the payloads of the
// integration guide, copied verbatim from its examples.
const guideAddedToCart = `["track", "Added to Cart", {
     "$value": 29.98,
     "AddedItemProductName": "A Tale of Two Cities",
     "AddedItemProductID": "1112",
     "AddedItemSKU": "TALEOFTWO",
     "AddedItemCategories": ["Fiction", "Classics", "Children"],
     "AddedItemImageURL": "http://www.example.com/path/to/product/image2.png",
     "AddedItemURL": "http://www.example.com/path/to/product2",
     "AddedItemPrice": 19.99,
     "AddedItemQuantity": 1,
     "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"],
     "CheckoutURL": "http://www.example.com/path/to/checkout",
     "Items": [{
         "ProductID": "1111",
         "SKU": "WINNIEPOOH",
         "ProductName": "Winnie the Pooh",
         "Quantity": 1,
         "ItemPrice": 9.99,
         "RowTotal": 9.99,
         "ProductURL": "http://www.example.com/path/to/product",
         "ImageURL": "http://www.example.com/path/to/product/image.png",
         "ProductCategories": ["Fiction", "Children"]
       },
       {
         "ProductID": "1112",
         "SKU": "TALEOFTWO",
         "ProductName": "A Tale of Two Cities",
         "Quantity": 1,
         "ItemPrice": 19.99,
         "RowTotal": 19.99,
         "ProductURL": "http://www.example.com/path/to/product2",
         "ImageURL": "http://www.example.com/path/to/product/image2.png",
         "ProductCategories": ["Fiction", "Classics"]
       }
     ]
   }]`

const guideStartedCheckout = `["track", "Started Checkout", {
     "$event_id": "1000123_1387299423",
     "$value": 29.98,
     "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"],
     "CheckoutURL": "http://www.example.com/path/to/checkout",
     "Categories": ["Fiction", "Children", "Classics"],
     "Items": [{
         "ProductID": "1111",
         "SKU": "WINNIEPOOH",
         "ProductName": "Winnie the Pooh",
         "Quantity": 1,
         "ItemPrice": 9.99,
         "RowTotal": 9.99,
         "ProductURL": "http://www.example.com/path/to/product",
         "ImageURL": "http://www.example.com/path/to/product/image.png",
         "ProductCategories": ["Fiction", "Children"]
       },
       {
         "ProductID": "1112",
         "SKU": "TALEOFTWO",
         "ProductName": "A Tale of Two Cities",
         "Quantity": 1,
         "ItemPrice": 19.99,
         "RowTotal": 19.99,
         "ProductURL": "http://www.example.com/path/to/product2",
         "ImageURL": "http://www.example.com/path/to/product/image2.png",
         "ProductCategories": ["Fiction", "Classics"]
       }
     ]
   }]`

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSeedCart checks the guide's own examples byte for byte (after
// removing the guide's whitespace): key order, $value 29.98, category
// unions and the $event_id.
func TestSeedCart(t *testing.T) {
	cart, added := seedCart(t)
	tests := []struct {
		name string
		c    templ.Component
		want string
	}{
		{"added-to-cart", AddedToCart(cart, added), guideAddedToCart},
		{"started-checkout", StartedCheckout(cart, checkoutTime), guideStartedCheckout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			html, err := render(t, tt.c, "")
			if err != nil {
				t.Fatal(err)
			}
			pushes, _, err := extractPushes(html)
			if err != nil {
				t.Fatal(err)
			}
			if len(pushes) != 1 {
				t.Fatalf("got %d pushes, want 1", len(pushes))
			}
			if diff := cmp.Diff(compact(t, tt.want), string(pushes[0])); diff != "" {
				t.Errorf("push (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPushesFromHTML decodes the pushes out of the rendered HTML (not from
// the builders' output) and compares them byte for byte with payloads built
// independently by encoding/json from plain structs.
func TestPushesFromHTML(t *testing.T) {
	cart, added := seedCart(t)
	three := shop.Cart{ID: "c3", CheckoutURL: "https://shop.example/checkout", Items: []shop.LineItem{
		{Product: shop.Product{ID: "a", Name: "A", Price: money(t, "0.10"), Categories: []string{"x", "y"}}, Quantity: 2},
		{Product: shop.Product{ID: "b", SKU: "B-1", Name: "B", Price: money(t, "19.99"), Categories: []string{"z", "x"}}, Quantity: 3},
		{Product: shop.Product{ID: "b", SKU: "B-2", Name: "B too", Price: money(t, "0")}, Quantity: 1},
	}}
	customers := []shop.Customer{
		{Email: "shopper@example.com", PhoneNumber: "+15551234567", ExternalID: "u-1", FirstName: "John", LastName: "Smith"},
		{PhoneNumber: "+15551234567"},
		{ExternalID: "only-id", LastName: "Ng"},
	}
	type tc struct {
		name string
		c    templ.Component
		want []any
	}
	tests := []tc{
		{"viewed-product-full", ViewedProduct(fullProduct(t)), wantViewedProduct(fullProduct(t))},
		{"viewed-product-minimal", ViewedProduct(shop.Product{ID: "1", Name: "n", Price: money(t, "0")}), wantViewedProduct(shop.Product{ID: "1", Name: "n", Price: money(t, "0")})},
		{"added-to-cart-seed", AddedToCart(cart, added), wantAddedToCart(cart, added)},
		{"added-to-cart-first-line", AddedToCart(cart, cart.Items[0]), wantAddedToCart(cart, cart.Items[0])},
		{"added-to-cart-sku-variant", AddedToCart(three, three.Items[1]), wantAddedToCart(three, three.Items[1])},
		{"added-to-cart-partial-quantity", AddedToCart(three, shop.LineItem{Product: three.Items[1].Product, Quantity: 1}), wantAddedToCart(three, shop.LineItem{Product: three.Items[1].Product, Quantity: 1})},
		{"started-checkout-seed", StartedCheckout(cart, checkoutTime), wantStartedCheckout(cart, checkoutTime)},
		{"started-checkout-three", StartedCheckout(three, checkoutTime), wantStartedCheckout(three, checkoutTime)},
	}
	for i, k := range customers {
		tests = append(tests, tc{"identify-" + string(rune('a'+i)), Identify(k), wantIdentify(k)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			html, err := render(t, tt.c, "")
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := extractPushes(html)
			if err != nil {
				t.Fatal(err)
			}
			var gotS, wantS []string
			for _, p := range got {
				gotS = append(gotS, string(p))
			}
			for _, w := range tt.want {
				wantS = append(wantS, marshal(t, w))
			}
			if diff := cmp.Diff(wantS, gotS); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMoneyIsExact(t *testing.T) {
	c := shop.Cart{ID: "c", Items: []shop.LineItem{{Product: shop.Product{ID: "p", Name: "n", Price: money(t, "19.99")}, Quantity: 3}}}
	ps, err := AddedToCartPushes(c, c.Items[0])
	if err != nil {
		t.Fatal(err)
	}
	var got []any
	dec := json.NewDecoder(bytes.NewReader(ps[0]))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	props := got[2].(map[string]any)
	if v := props["$value"].(json.Number).String(); v != "59.97" {
		t.Errorf("$value = %s, want 59.97", v)
	}
	if v := props["Items"].([]any)[0].(map[string]any)["RowTotal"].(json.Number).String(); v != "59.97" {
		t.Errorf("RowTotal = %s, want 59.97", v)
	}
}

// hostile are the strings that must reach the page unchanged and inert.
var hostile = []string{
	`</script><script>alert(1)</script>`,
	`</SCRIPT >`,
	`<!--`,
	`<!-- <script>`,
	`-->`,
	`"quoted" and 'single'`,
	`back\slash \" \\`,
	"line\u2028sep\u2029para",
	"emoji 🛒👩‍👩‍👧 and ✓",
	`<b>markup</b> & <img src=x onerror=alert(1)>`,
	"tab\tnew\nline\rcr\x00nul\x1fus\bbs\ffeed",
	`]);alert(1);//`,
	`${alert(1)}` + "`tpl`",
	"\ufeffbom",
}

// TestEscaping puts each hostile string into every string field of every
// snippet and checks that the partial still tokenizes into the same script
// elements, that no script text holds "</script" or "<!--", and that the
// pushes decode back to exactly the input strings.
func TestEscaping(t *testing.T) {
	for _, s := range hostile {
		for _, f := range stringFields {
			t.Run(f.name+"/"+s, func(t *testing.T) {
				cart, added, k := hostileInput(t, f.set, s)
				for _, c := range []struct {
					name, short string
					comp        templ.Component
					n           int
				}{
					{"viewed-product", "vp", ViewedProduct(added.Product), 2},
					{"added-to-cart", "atc", AddedToCart(cart, added), 1},
					{"started-checkout", "sc", StartedCheckout(cart, checkoutTime), 1},
					{"identify", "id", Identify(k), 1},
				} {
					html, err := render(t, c.comp, "")
					if err != nil {
						t.Fatalf("%s: %v", c.name, err)
					}
					pushes, scripts, err := extractPushes(html)
					if err != nil {
						t.Fatalf("%s: %v\n%s", c.name, err, html)
					}
					if len(scripts) != 1 || len(pushes) != c.n {
						t.Fatalf("%s: %d scripts and %d pushes, want 1 and %d:\n%s", c.name, len(scripts), len(pushes), c.n, html)
					}
					low := strings.ToLower(scripts[0].Text)
					for _, bad := range []string{"</script", "<!--", "<script", "\u2028", "\u2029"} {
						if strings.Contains(low, bad) {
							t.Errorf("%s: script text contains %q", c.name, bad)
						}
					}
					found := false
					for _, p := range pushes {
						found = found || containsString(t, p, s)
					}
					if !found && slices.Contains(strings.Fields(f.in), c.short) {
						t.Errorf("%s: %q not found unchanged in pushes %s", c.name, s, pushes)
					}
				}
			})
		}
	}
}

// stringFields names every string input field, how to set it, and the
// snippets whose pushes carry it.
var stringFields = []struct {
	name string
	in   string
	set  func(c *shop.Cart, k *shop.Customer, s string)
}{
	{"product.id", "vp atc sc", func(c *shop.Cart, k *shop.Customer, s string) { c.Items[1].Product.ID = s }},
	{"product.sku", "vp atc sc", func(c *shop.Cart, k *shop.Customer, s string) { c.Items[1].Product.SKU = s }},
	{"product.name", "vp atc sc", func(c *shop.Cart, k *shop.Customer, s string) { c.Items[1].Product.Name = s }},
	{"product.url", "vp atc sc", func(c *shop.Cart, k *shop.Customer, s string) { c.Items[1].Product.URL = s }},
	{"product.image_url", "vp atc sc", func(c *shop.Cart, k *shop.Customer, s string) { c.Items[1].Product.ImageURL = s }},
	{"product.categories", "vp atc sc", func(c *shop.Cart, k *shop.Customer, s string) {
		c.Items[1].Product.Categories = []string{s, "Fiction"}
	}},
	{"product.brand", "vp", func(c *shop.Cart, k *shop.Customer, s string) { c.Items[1].Product.Brand = s }},
	{"cart.id", "sc", func(c *shop.Cart, k *shop.Customer, s string) { c.ID = s }},
	{"cart.checkout_url", "atc sc", func(c *shop.Cart, k *shop.Customer, s string) { c.CheckoutURL = s }},
	{"customer.email", "id", func(c *shop.Cart, k *shop.Customer, s string) { k.Email = "a@" + s }},
	{"customer.phone_number", "id", func(c *shop.Cart, k *shop.Customer, s string) { k.PhoneNumber = s }},
	{"customer.external_id", "id", func(c *shop.Cart, k *shop.Customer, s string) { k.ExternalID = s }},
	{"customer.first_name", "id", func(c *shop.Cart, k *shop.Customer, s string) { k.FirstName = s }},
	{"customer.last_name", "id", func(c *shop.Cart, k *shop.Customer, s string) { k.LastName = s }},
}

func hostileInput(t *testing.T, set func(*shop.Cart, *shop.Customer, string), s string) (shop.Cart, shop.LineItem, shop.Customer) {
	cart, _ := seedCart(t)
	k := shop.Customer{Email: "shopper@example.com"}
	set(&cart, &k, s)
	return cart, cart.Items[1], k
}

// containsString reports whether the decoded JSON value raw holds a string
// equal to s, or to "a@"+s for the email field, anywhere (including a cart
// id in $event_id).
func containsString(t *testing.T, raw json.RawMessage, s string) bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			return v == s || v == "a@"+s || strings.HasPrefix(v, s+"_")
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		case map[string]any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// TestValidation checks every rule the builders enforce, with the field
// each error names.
func TestValidation(t *testing.T) {
	good := func() (shop.Cart, shop.LineItem) { return seedCart(t) }
	if c, a := good(); ValidateAddedToCart(c, a) != nil {
		t.Errorf("ValidateAddedToCart refuses a valid cart and line: %v", ValidateAddedToCart(c, a))
	}
	tests := []struct {
		name  string
		err   func() error
		field string
	}{
		{"product missing id", func() error { p := fullProduct(t); p.ID = " "; _, err := ViewedProductPushes(p); return err }, "product.id"},
		{"product missing name", func() error { p := fullProduct(t); p.Name = ""; _, err := ViewedProductPushes(p); return err }, "product.name"},
		{"product missing price", func() error {
			p := fullProduct(t)
			p.Price = shop.Money{}
			_, err := ViewedProductPushes(p)
			return err
		}, "product.price"},
		{"product negative price", func() error {
			p := fullProduct(t)
			p.Price = shop.Cents(-1)
			_, err := ViewedProductPushes(p)
			return err
		}, "product.price"},
		{"product negative compare_at_price", func() error {
			p := fullProduct(t)
			p.CompareAtPrice = shop.Cents(-100)
			_, err := ViewedProductPushes(p)
			return err
		}, "product.compare_at_price"},
		{"cart missing id", func() error { c, a := good(); c.ID = ""; _, err := AddedToCartPushes(c, a); return err }, "cart.id"},
		{"cart no items", func() error { c, a := good(); c.Items = nil; _, err := AddedToCartPushes(c, a); return err }, "cart.items"},
		{"cart line quantity 0", func() error { c, a := good(); c.Items[0].Quantity = 0; _, err := AddedToCartPushes(c, a); return err }, "cart.items[0].quantity"},
		{"cart line negative price", func() error {
			c, a := good()
			c.Items[1].Product.Price = shop.Cents(-5)
			_, err := AddedToCartPushes(c, a)
			return err
		}, "cart.items[1].product.price"},
		{"cart line missing product id", func() error {
			c, a := good()
			c.Items[1].Product.ID = ""
			_, err := AddedToCartPushes(c, a)
			return err
		}, "cart.items[1].product.id"},
		{"added quantity 0", func() error { c, a := good(); a.Quantity = 0; _, err := AddedToCartPushes(c, a); return err }, "added.quantity"},
		{"added missing product id", func() error { c, a := good(); a.Product.ID = ""; _, err := AddedToCartPushes(c, a); return err }, "added.product.id"},
		{"added not in cart", func() error { c, a := good(); a.Product.ID = "9999"; _, err := AddedToCartPushes(c, a); return err }, "added"},
		{"added other sku", func() error { c, a := good(); a.Product.SKU = "OTHER"; _, err := AddedToCartPushes(c, a); return err }, "added"},
		{"added more than cart line", func() error { c, a := good(); a.Quantity = 2; _, err := AddedToCartPushes(c, a); return err }, "added.quantity"},
		// ValidateAddedToCart, for storefronts that check before rendering,
		// names the same fields as the builder.
		{"validate added: cart line quantity 0", func() error { c, a := good(); c.Items[0].Quantity = 0; return ValidateAddedToCart(c, a) }, "cart.items[0].quantity"},
		{"validate added: not in cart", func() error { c, a := good(); a.Product.ID = "9999"; return ValidateAddedToCart(c, a) }, "added"},
		{"validate added: more than cart line", func() error { c, a := good(); a.Quantity = 2; return ValidateAddedToCart(c, a) }, "added.quantity"},
		{"checkout missing cart id", func() error { c, _ := good(); c.ID = ""; _, err := StartedCheckoutPushes(c, checkoutTime); return err }, "cart.id"},
		{"checkout before 1970", func() error { c, _ := good(); _, err := StartedCheckoutPushes(c, time.Unix(-1, 0)); return err }, "time"},
		{"identify no identifier", func() error { _, err := IdentifyPushes(shop.Customer{FirstName: "x"}); return err }, "customer"},
		{"identify bad email", func() error { _, err := IdentifyPushes(shop.Customer{Email: "nope"}); return err }, "customer.email"},
		{"loader no key", func() error { return LoaderOptions{}.Validate() }, "public_key"},
		{"loader bad key", func() error { return LoaderOptions{PublicKey: "abc"}.Validate() }, "public_key"},
		{"loader key with markup", func() error { return LoaderOptions{PublicKey: `a"<>b/`}.Validate() }, "public_key"},
		{"loader bad url", func() error { return LoaderOptions{KlaviyoJSURL: "javascript:alert(1)"}.Validate() }, "klaviyo_js_url"},
		{"loader protocol-relative url", func() error { return LoaderOptions{KlaviyoJSURL: "//evil.example/k.js"}.Validate() }, "klaviyo_js_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if code := apperr.ErrorCode(err); code != apperr.EINVALID {
				t.Fatalf("code = %q (%v), want %q", code, err, apperr.EINVALID)
			}
			if got := apperr.ErrorField(err); got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, err)
			}
		})
	}
}

// TestComponentErrors checks that a component with invalid input fails to
// render and writes nothing.
func TestComponentErrors(t *testing.T) {
	for _, c := range []templ.Component{
		Loader(LoaderOptions{}),
		ViewedProduct(shop.Product{}),
		AddedToCart(shop.Cart{}, shop.LineItem{}),
		StartedCheckout(shop.Cart{}, time.Time{}),
		Identify(shop.Customer{}),
	} {
		html, err := render(t, c, "")
		if apperr.ErrorCode(err) != apperr.EINVALID || html != "" {
			t.Errorf("render = %q, %v; want nothing and an invalid error", html, err)
		}
	}
}

func TestStartedCheckoutDefaultsToNow(t *testing.T) {
	c, _ := seedCart(t)
	before := time.Now().Unix()
	ps, err := StartedCheckoutPushes(c, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Unix()
	var v []map[string]any
	var got []json.RawMessage
	json.Unmarshal(ps[0], &got)
	json.Unmarshal([]byte("["+string(got[2])+"]"), &v)
	id := v[0]["$event_id"].(string)
	ok := false
	for s := before; s <= after; s++ {
		ok = ok || id == c.ID+"_"+itoa(s)
	}
	if !ok {
		t.Errorf("$event_id = %q, want %s_<now> between %d and %d", id, c.ID, before, after)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
