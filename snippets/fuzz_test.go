package snippets

import (
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// FuzzRender renders every push snippet from arbitrary strings and amounts
// and checks that nothing panics, that invalid input fails with a field
// error only, that the partial tokenizes into script elements whose pushes
// are exactly the builders' pushes, and that every (valid UTF-8) input
// string decodes back out of the partial unchanged.
//
//	go test ./snippets -run '^$' -fuzz FuzzRender -fuzztime 3m
func FuzzRender(f *testing.F) {
	for _, s := range hostile {
		f.Add("1112", "TALEOFTWO", s, "http://www.example.com/p?a=1&b=2", "https://x/i.png", "Fiction", s, "Brand", "1000123", "https://x/checkout", "a@"+s, "+1555", s, s, "Smith", int64(1999), int64(1250), int64(3))
	}
	f.Add("1", "", "n", "", "", "", "", "", "c", "", "a@b", "", "", "", "", int64(0), int64(-1), int64(1))
	f.Fuzz(func(t *testing.T, id, sku, name, url, image, cat1, cat2, brand, cartID, checkout, email, phone, ext, first, last string, price, compare, qty int64) {
		p := shop.Product{ID: id, SKU: sku, Name: name, URL: url, ImageURL: image, Brand: brand, Price: shop.Cents(price % 1e12)}
		if cat1 != "" || cat2 != "" {
			p.Categories = []string{cat1, cat2}
		}
		if compare >= 0 {
			p.CompareAtPrice = shop.Cents(compare % 1e12)
		}
		other := shop.Product{ID: id + "-2", Name: "other", Categories: []string{cat2, "x"}, Price: shop.Cents(1)}
		line := shop.LineItem{Product: p, Quantity: qty % 2_000_000}
		cart := shop.Cart{ID: cartID, CheckoutURL: checkout, Items: []shop.LineItem{{Product: other, Quantity: 2}, line}}
		k := shop.Customer{Email: email, PhoneNumber: phone, ExternalID: ext, FirstName: first, LastName: last}

		for _, sn := range []struct {
			name string
			s    Snippet
			want func(t *testing.T, pushes []any)
		}{
			{"viewed-product", ViewedProduct(p), func(t *testing.T, pushes []any) {
				props := member(t, pushes, 0, 2)
				eq(t, props["ProductName"], name)
				eq(t, props["ProductID"], id)
				opt(t, props, "SKU", sku)
				opt(t, props, "URL", url)
				opt(t, props, "ImageURL", image)
				opt(t, props, "Brand", brand)
				cats(t, props["Categories"], p.Categories)
				item := member(t, pushes, 1, 1)
				eq(t, item["Title"], name)
				eq(t, item["ItemId"], id)
				opt(t, item, "Url", url)
				cats(t, item["Categories"], p.Categories)
			}},
			{"added-to-cart", AddedToCart(cart, line), func(t *testing.T, pushes []any) {
				props := member(t, pushes, 0, 2)
				eq(t, props["AddedItemProductName"], name)
				eq(t, props["AddedItemProductID"], id)
				opt(t, props, "CheckoutURL", checkout)
				items := props["Items"].([]any)
				got := items[1].(map[string]any)
				eq(t, got["ProductName"], name)
				opt(t, got, "ProductURL", url)
				cats(t, got["ProductCategories"], p.Categories)
			}},
			{"started-checkout", StartedCheckout(cart, checkoutTime), func(t *testing.T, pushes []any) {
				props := member(t, pushes, 0, 2)
				eq(t, props["$event_id"], cartID+"_1387299423")
				names := props["ItemNames"].([]any)
				eq(t, names[1], name)
			}},
			{"identify", Identify(k), func(t *testing.T, pushes []any) {
				props := member(t, pushes, 0, 1)
				opt(t, props, "email", email)
				opt(t, props, "phone_number", phone)
				opt(t, props, "external_id", ext)
				opt(t, props, "first_name", first)
				opt(t, props, "last_name", last)
			}},
		} {
			html, err := render(t, sn.s, "n")
			if err != nil {
				if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) == "" {
					t.Fatalf("%s: error %v is not a field error", sn.name, err)
				}
				continue
			}
			raws, scripts, err := extractPushes(html)
			if err != nil {
				t.Fatalf("%s: %v\n%s", sn.name, err, html)
			}
			if len(scripts) != 1 {
				t.Fatalf("%s: %d script elements:\n%s", sn.name, len(scripts), html)
			}
			built, _ := sn.s.Pushes()
			if !slices.EqualFunc(raws, built, func(a json.RawMessage, b Push) bool { return string(a) == string(b) }) {
				t.Fatalf("%s: pushes in the HTML %s differ from the builders' %s", sn.name, raws, built)
			}
			var pushes []any
			for _, r := range raws {
				var v any
				if err := json.Unmarshal(r, &v); err != nil {
					t.Fatal(err)
				}
				pushes = append(pushes, v)
			}
			if allValid(id, sku, name, url, image, cat1, cat2, brand, cartID, checkout, email, phone, ext, first, last) {
				sn.want(t, pushes)
			}
		}
	})
}

func allValid(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// member returns the object at index j of push i.
func member(t *testing.T, pushes []any, i, j int) map[string]any {
	t.Helper()
	return pushes[i].([]any)[j].(map[string]any)
}

func eq(t *testing.T, got any, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("decoded %q, want the input %q", got, want)
	}
}

// opt checks an optional member: absent when the input is empty.
func opt(t *testing.T, m map[string]any, key, want string) {
	t.Helper()
	got, ok := m[key]
	if want == "" {
		if ok {
			t.Fatalf("%s = %q present for an empty input", key, got)
		}
		return
	}
	eq(t, got, want)
}

func cats(t *testing.T, got any, want []string) {
	t.Helper()
	if len(want) == 0 {
		if got != nil {
			t.Fatalf("categories %v present for none", got)
		}
		return
	}
	list, _ := got.([]any)
	for _, w := range want {
		if !slices.Contains(list, any(w)) {
			t.Fatalf("category %q missing from %v", w, list)
		}
	}
}
