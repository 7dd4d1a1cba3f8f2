package carts

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/shop"
)

// moneyEqual compares shop.Money, whose fields are unexported.
var moneyEqual = cmp.Comparer(func(a, b shop.Money) bool { return a == b })

var update = flag.Bool("update", os.Getenv("UPDATE_GOLDEN") == "1", "rewrite testdata/redirects.golden")

// hostileItems are product ids that break naive URL building.
var hostileItems = []shop.LineItem{
	{Product: shop.Product{ID: "a&b=c"}, Quantity: 1},
	{Product: shop.Product{ID: "#top"}, Quantity: 2},
	{Product: shop.Product{ID: "100%"}, Quantity: 3},
	{Product: shop.Product{ID: "café"}, Quantity: 1},
	{Product: shop.Product{ID: "茶/碗"}, Quantity: 4},
	{Product: shop.Product{ID: "x,y:z"}, Quantity: 5},
	{Product: shop.Product{ID: "plus+ space?"}, Quantity: 6},
}

// The two URL styles the README shows.
const (
	queryStyle = "https://shop.example/cart/restore?items={items}&cart={cart_id}&utm_source=klaviyo"
	pathStyle  = "https://shop.example/restore/{cart_id}/{items}#cart"
)

// TestRedirectGolden writes the redirect of carts with hostile product ids
// for both template styles, with and without a carried query string.
func TestRedirectGolden(t *testing.T) {
	var b strings.Builder
	for _, tmpl := range []string{queryStyle, pathStyle, "https://shop.example/api/cart?t={token}"} {
		tp, err := ParseTemplate(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"", "utm_campaign=abandoned&_kx=ab%2Bcd", "bad=%zz&\"<x>\"&é"} {
			for i, items := range [][]shop.LineItem{hostileItems[:1], hostileItems} {
				fmt.Fprintf(&b, "%s | query %q | cart %d\n%s\n\n", tmpl, q, i,
					tp.Expand("cart #7 & co", items, "TOKEN_abc-123", q))
			}
		}
	}
	path := filepath.Join("testdata", "redirects.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
	}
	if d := cmp.Diff(string(want), b.String()); d != "" {
		t.Errorf("redirects (-want +got):\n%s", d)
	}
}

// TestRedirectRoundTrip decodes the redirect as the README tells a shop
// to (its framework decodes the parameter once; split on "," and ":";
// percent-decode each id) and gets every id and quantity back, with the
// host and path of the template untouched.
func TestRedirectRoundTrip(t *testing.T) {
	tp, err := ParseTemplate(queryStyle)
	if err != nil {
		t.Fatal(err)
	}
	raw := tp.Expand("cart #7 & co", hostileItems, "tok", "utm_medium=email&_kx=K%2B1")
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" || u.Host != "shop.example" || u.Path != "/cart/restore" {
		t.Fatalf("redirect %s left the template's origin or path", raw)
	}
	q := u.Query()
	if got := q.Get("cart"); got != "cart #7 & co" {
		t.Errorf("cart = %q", got)
	}
	if q.Get("utm_source") != "klaviyo" || q.Get("utm_medium") != "email" || q.Get("_kx") != "K+1" {
		t.Errorf("query %v lost the template's or the email link's parameters", q)
	}
	var got []shop.LineItem
	for _, pair := range strings.Split(q.Get("items"), ",") {
		id, n, ok := strings.Cut(pair, ":")
		if !ok {
			t.Fatalf("pair %q has no ':'", pair)
		}
		id, err := url.PathUnescape(id)
		if err != nil {
			t.Fatal(err)
		}
		qty, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, shop.LineItem{Product: shop.Product{ID: id}, Quantity: qty})
	}
	if d := cmp.Diff(hostileItems, got, moneyEqual); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
}

func TestParseTemplateRefuses(t *testing.T) {
	for _, s := range []string{
		"",
		"/cart/restore?items={items}",       // not absolute
		"ftp://shop.example/?items={items}", // scheme
		"https://{cart_id}.shop.example/?x={items}", // host put in
		"https://shop.example{items}",               // host extended
		"https://user@shop.example/?items={items}",  // userinfo
		"https://shop.example/?items={item}",        // unknown placeholder
		"https://shop.example/cart",                 // nothing put in
		"https://shop.example/?i={items}#{token}",   // fragment
		"https://shop.example/?i={items} x",         // space
	} {
		if _, err := ParseTemplate(s); err == nil {
			t.Errorf("ParseTemplate(%q) accepted", s)
		}
	}
	for _, s := range []string{queryStyle, pathStyle, "http://127.0.0.1:8080/demo/cart/restore?items={items}"} {
		if _, err := ParseTemplate(s); err != nil {
			t.Errorf("ParseTemplate(%q): %v", s, err)
		}
	}
}
