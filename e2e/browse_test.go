package e2e

import (
	"html"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/snippets"
	"github.com/snippetd/snippetd/web"
)

// Realistic browse pages: a category listing and a search results page,
// with hostile strings where a storefront's data could carry them.
var (
	browseCategory = `{"id":"fiction-children","name":"Children's ` + trap + `","url":"https://shop.example/c/fiction/children?sort=new&x=` + trap + `","product_ids":["1111","1112","` + trap + `"]}`
	browseSearch   = `{"term":"pooh ` + trap + `","results_count":27,"product_ids":["1111","1187","1203"]}`
	emptySearch    = `{"term":"unicorn mug"}`
)

// The render API's Viewed Category and Searched Site partials run in a
// page with a nonce CSP and klaviyo.js blocked, leaving on the queue
// exactly the Go builders' pushes with every hostile string inert.
func TestBrowsePartialsRun(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoNotFound)
	site := NewSite(t)
	tab := NewTab(t)
	head := renderAPI(t, site, "loader", `{"public_key":"`+key+`"}`)
	body := renderAPI(t, site, "viewed-category", `{"category":`+browseCategory+`}`) +
		renderAPI(t, site, "searched-site", `{"search":`+browseSearch+`}`) +
		renderAPI(t, site, "searched-site", `{"search":`+emptySearch+`}`)
	tab.Navigate(site.Page("browse", HTML(head, body)))

	var want [][]byte
	want = append(want, built(t)(snippets.ViewedCategoryPushes(dec[snippets.Category](t, browseCategory)))...)
	want = append(want, built(t)(snippets.SearchedSitePushes(dec[snippets.Search](t, browseSearch)))...)
	want = append(want, built(t)(snippets.SearchedSitePushes(dec[snippets.Search](t, emptySearch)))...)
	diffPushes(t, want, raws(tab.Pushes()))
	var pwned any
	tab.Eval(`window.pwned === undefined ? null : window.pwned`, &pwned)
	if pwned != nil {
		t.Errorf("a hostile string ran: window.pwned = %v", pwned)
	}
	if Klaviyo().Hits(key) == 0 {
		t.Error("the page never asked for klaviyo.js (blocked with 404)")
	}
}

// The helper's API and its declarative attributes build the same pushes
// as the Go builders (klaviyo.js blocked).
func TestBrowseHelper(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoNotFound)
	attr := func(name, v string) string {
		return `<div hidden data-snippetd-` + name + `="` + html.EscapeString(v) + `"></div>`
	}
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: key, HelperSrc: Helper(t, web.Features{}).Path},
		attr("category", browseCategory)+attr("search", browseSearch))
	var want [][]byte
	want = append(want, built(t)(snippets.ViewedCategoryPushes(dec[snippets.Category](t, browseCategory)))...)
	want = append(want, built(t)(snippets.SearchedSitePushes(dec[snippets.Search](t, browseSearch)))...)
	tab.WaitFor(`(window._klOnsite || []).length >= 2`)
	diffPushes(t, want, raws(tab.Pushes()))

	tab.Eval(`window._klOnsite.length = 0, snippetd.searchedSite(`+emptySearch+`), snippetd.viewedCategory({"id":"sale","name":"Sale"}), 0`, nil)
	want = built(t)(snippets.SearchedSitePushes(dec[snippets.Search](t, emptySearch)))
	want = append(want, built(t)(snippets.ViewedCategoryPushes(snippets.Category{ID: "sale", Name: "Sale"}))...)
	diffPushes(t, want, raws(tab.Pushes()))
}

// The back-in-stock button sends Klaviyo's client back-in-stock request
// with the page's public key, which the strict fake accepts; bad input
// never leaves the page.
func TestBackInStockButton(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoNotFound)
	fake := klaviyotest.NewServer(t)
	fake.SetKeys(klaviyotest.PrivateKey, key)
	fake.PutCatalogVariant("$custom:::$default:::lamp-brass", "$custom:::$default:::lamp", map[string]any{"inventory_quantity": 0})
	Klaviyo().SetAPI(t, fake)
	body := `<form id="f"><input type="email" id="email"><input type="tel" id="phone">` +
		`<button type="button" id="notify" data-snippetd-back-in-stock='{"variant":"lamp-brass"}'>Notify me</button></form>`
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: key, HelperSrc: Helper(t, web.Features{}).Path}, body)

	// Not an email: nothing is sent.
	tab.Type("#email", "not-an-email")
	tab.Click("#notify")
	tab.WaitFor(`document.querySelector("#notify").dataset.snippetdState === "invalid"`)

	tab.Clear("#email")
	tab.Type("#email", " shopper@example.com ")
	tab.Type("#phone", "+1 (500) 555-0006")
	tab.Click("#notify")
	tab.WaitFor(`document.querySelector("#notify").dataset.snippetdState === "sent"`)
	subs := fake.BackInStockSubscriptions()
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions at the fake, want 1", len(subs))
	}
	s := subs[0]
	if s.Variant != "$custom:::$default:::lamp-brass" || strings.Join(s.Channels, ",") != "EMAIL,SMS" ||
		s.Profile["email"] != "shopper@example.com" || s.Profile["phone_number"] != "+15005550006" {
		t.Errorf("subscription %+v", s)
	}
	for _, r := range fake.Requests() {
		if r.Path == klaviyotest.PathClientBackInStock && r.Method == "POST" && (r.Query != "company_id="+key || r.Header.Get("Authorization") != "") {
			t.Errorf("request %s?%s with Authorization %q", r.Path, r.Query, r.Header.Get("Authorization"))
		}
	}

	// A variant Klaviyo does not know: the fake refuses, the page says so.
	tab.Eval(`document.querySelector("#notify").dataset.snippetdBackInStock = '{"variant":"nope"}', 0`, nil)
	tab.Click("#notify")
	tab.WaitFor(`document.querySelector("#notify").dataset.snippetdState === "failed"`)
	if n := len(fake.BackInStockSubscriptions()); n != 1 {
		t.Errorf("%d subscriptions after a refused one", n)
	}
}
