package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/snippets"
)

// inspectorEvents reads the inspector's JSON list of the demo shop.
func (s *demoShop) inspectorEvents(t *testing.T) []inspect.Event {
	t.Helper()
	req, _ := http.NewRequest("GET", s.origin+"/debug/events?limit=1000", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+demoToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Events []inspect.Event }
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&body) != nil {
		t.Fatalf("GET /debug/events: %s", resp.Status)
	}
	return body.Events
}

// productsShown returns the product ids of the page's cards, in order.
func productsShown(t *testing.T, tab *Tab) []string {
	t.Helper()
	var ids []string
	tab.Eval(`Array.from(document.querySelectorAll("article[data-product]"), a => a.dataset.product)`, &ids)
	return ids
}

// TestDemoBrowseInInspector: a shopper opens a category from the demo
// shop's menu, searches with the search box, opens the sold-out product
// from the results and asks to be notified; the inspector lists Viewed
// Category and Searched Site as the browser ran them (the Go builders'
// pushes for what the pages showed) and the back-in-stock request with
// the shopper's email.
func TestDemoBrowseInInspector(t *testing.T) {
	s := startDemoShop(t, false)
	tab := NewTab(t)
	freshCookies(t, tab)
	const email = "wren@example.com"

	tab.Navigate(s.origin + "/demo/")
	tab.Click(`header a[href="/demo/categories/Home"]`)
	tab.WaitFor(`location.pathname === "/demo/categories/Home" && document.readyState === "complete" && window.snippetd`)
	home := productsShown(t, tab)
	if !slices.Contains(home, "lamp") {
		t.Fatalf("the Home category shows %v, without the sold-out lamp", home)
	}

	tab.Type("#search-q", "brass\r")
	tab.WaitFor(`location.pathname === "/demo/search" && document.readyState === "complete" && window.snippetd`)
	found := productsShown(t, tab)
	if !slices.Contains(found, "lamp") {
		t.Fatalf("searching brass found %v, without the lamp", found)
	}

	tab.Click(`article[data-product="lamp"] a.button`)
	tab.WaitFor(`location.pathname === "/demo/products/lamp" && document.readyState === "complete" && window.snippetd`)
	tab.Type("#notify-email", email)
	tab.Click("#notify-me")
	tab.WaitFor(`document.querySelector("#notify-me").dataset.snippetdState === "sent"`)

	wantCategory := built(t)(snippets.ViewedCategoryPushes(snippets.Category{ID: "home", Name: "Home", URL: s.origin + "/demo/categories/Home", ProductIDs: home}))
	wantSearch := built(t)(snippets.SearchedSitePushes(snippets.Search{Term: "brass", ResultsCount: int64(len(found)), ProductIDs: found}))
	wantNotify, _ := json.Marshal([]any{"backInStock", map[string]any{
		"variant": "$custom:::$default:::lamp-brass", "channels": []string{"EMAIL"}, "profile": map[string]string{"email": email}}})
	type row struct{ Source, Metric, State, Profile string }
	want := map[row][]byte{
		{inspect.SourceRender, snippets.MetricViewedCategory, inspect.StatePushed, ""}: wantCategory[0],
		{inspect.SourceRender, snippets.MetricSearchedSite, inspect.StatePushed, ""}:   wantSearch[0],
		{inspect.SourceHelper, "backInStock", inspect.StatePushed, email}:              wantNotify,
	}
	// The browser's reports arrive a moment after the pages ran.
	var events []inspect.Event
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		events = s.inspectorEvents(t)
		seen := 0
		for _, e := range events {
			if _, ok := want[row{e.Source, e.Metric, e.State, e.Profile}]; ok {
				seen++
			}
		}
		if seen >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	for r, payload := range want {
		var got []inspect.Event
		for _, e := range events {
			if e.Source == r.Source && e.Metric == r.Metric {
				got = append(got, e)
			}
		}
		if len(got) != 1 {
			t.Errorf("%d inspector rows of %s %s, want 1: %+v", len(got), r.Source, r.Metric, got)
			continue
		}
		if g := (row{got[0].Source, got[0].Metric, got[0].State, got[0].Profile}); g != r {
			t.Errorf("inspector row %+v, want %+v", g, r)
		}
		if !jsonEqual(t, payload, got[0].Payload) {
			t.Errorf("%s payload in the inspector\n%s\nwant\n%s", r.Metric, got[0].Payload, payload)
		}
	}
}
