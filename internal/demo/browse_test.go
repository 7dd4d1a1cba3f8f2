package demo_test

import (
	"html"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/demo"
	"github.com/snippetd/snippetd/snippets"
)

// The category and search pages render Viewed Category and Searched Site
// in direct mode (recorded for the inspector), declare them to the helper
// in proxy mode, and the sold-out product offers the notify-me button.
func TestShopBrowsePages(t *testing.T) {
	rec, obs := &recorder{}, &observer{}
	s := demo.New(demo.Options{Helpers: testHelpers(t), PublicKey: demo.PublicKey, ProxyPrefix: "/s/", Rendered: rec, Renders: obs})

	page := serve(s, "GET", "/demo/categories/Home", "")
	want, _ := snippets.ViewedCategoryPushes(snippets.Category{ID: "home", Name: "Home", URL: "http://example.com/demo/categories/Home", ProductIDs: []string{"planter", "candle", "lamp"}})
	if page.Code != 200 || len(rec.got) != 1 || len(rec.got[0].pushes) != 1 || rec.got[0].pushes[0] != want[0].String() {
		t.Fatalf("category page %d, recorded %+v, want %s", page.Code, rec.got, want[0])
	}
	if !strings.Contains(page.Body.String(), `data-product="lamp"`) || !strings.Contains(page.Body.String(), "notify me") {
		t.Error("the category page does not list the sold-out lamp")
	}

	page = serve(s, "GET", "/demo/search?q=MUG", "")
	want, _ = snippets.SearchedSitePushes(snippets.Search{Term: "MUG", ResultsCount: 1, ProductIDs: []string{"mug"}})
	if page.Code != 200 || len(rec.got) != 2 || rec.got[1].pushes[0] != want[0].String() {
		t.Fatalf("search page %d, recorded %+v, want %s", page.Code, rec.got, want[0])
	}
	page = serve(s, "GET", "/demo/search?q=unicorn", "")
	want, _ = snippets.SearchedSitePushes(snippets.Search{Term: "unicorn"})
	if page.Code != 200 || len(rec.got) != 3 || rec.got[2].pushes[0] != want[0].String() || !strings.Contains(page.Body.String(), "Nothing matches") {
		t.Fatalf("empty search %d, recorded %+v", page.Code, rec.got)
	}
	if d := cmp.Diff([]string{"viewed-category OK", "searched-site OK", "searched-site OK"}, obs.got); d != "" {
		t.Errorf("observed renders (-want +got):\n%s", d)
	}

	proxied := serve(s, "GET", "/demo/categories/kitchen", "", "Cookie", "snippetd_demo_mode=proxy")
	body := html.UnescapeString(proxied.Body.String())
	if proxied.Code != 200 || len(rec.got) != 3 || !strings.Contains(body, `data-snippetd-category="{"id":"kitchen","name":"Kitchen"`) {
		t.Errorf("proxy mode: %d, %d renders recorded:\n%s", proxied.Code, len(rec.got), body)
	}

	lamp := serve(s, "GET", "/demo/products/lamp", "")
	lb := html.UnescapeString(lamp.Body.String())
	if lamp.Code != 200 || !strings.Contains(lb, `data-snippetd-back-in-stock="{"variant":"lamp-brass"}"`) || strings.Contains(lb, "add-lamp") {
		t.Errorf("sold-out product page %d:\n%s", lamp.Code, lb)
	}
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/demo/categories/Garage", 404},
		{"/demo/search?q=" + strings.Repeat("x", 201), 422},
		{"/demo/search", 303},
		{"/demo/img/lamp.svg", 200},
	} {
		if got := serve(s, "GET", tt.path, "").Code; got != tt.code {
			t.Errorf("GET %s: %d, want %d", tt.path, got, tt.code)
		}
	}
	// The cart never takes the sold-out product.
	if add := serve(s, "POST", "/demo/cart/add", "id=lamp&quantity=1", "Content-Type", "application/x-www-form-urlencoded"); add.Code < 400 {
		t.Errorf("adding the sold-out lamp: %d", add.Code)
	}
}
