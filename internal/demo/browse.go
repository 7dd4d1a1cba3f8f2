package demo

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// SoldOut is the demo's out-of-stock product: its one variant has no
// stock, so its page offers a back-in-stock "notify me" form instead of
// Add to cart. It is not in Catalog (the cart never holds it) but it is
// listed on its category page and found by search.
var SoldOut = Item{
	Product: shop.Product{ID: "lamp", SKU: "LK-LMP-07", Name: "Brass Desk Lamp", Categories: []string{"Home", "Lighting"}, Brand: "Larkspur", Price: shop.Cents(8900),
		Variants: []shop.Variant{{ID: "lamp-brass", SKU: "LK-LMP-07-BR", Title: "Brass Desk Lamp, brass", InventoryQuantity: new(int64)}}},
	Color: "#a16207", Blurb: "A weighted brass base and a linen shade. Back soon: leave your email and we will tell you.",
}

// everything is the catalog plus the sold-out product, for browsing.
func everything() []Item { return append(slices.Clip(Catalog), SoldOut) }

// findAny finds a product of the catalog or the sold-out one.
func findAny(id string) (Item, bool) {
	if id == SoldOut.ID {
		return SoldOut, true
	}
	return Find(id)
}

// BrowseView is a category page or a search results page.
type BrowseView struct {
	Heading  string
	Term     string // the search term (search page)
	Products []ProductCard
	// Event is the server-rendered Viewed Category or Searched Site
	// snippet (direct mode); in proxy mode it is nil and Declare holds
	// the helper's declarative attribute (data-snippetd-category or
	// data-snippetd-search) and its JSON.
	Event          templ.Component
	DeclareName    string
	DeclarePayload string
}

// handleCategory serves GET /demo/categories/{name}: the products of one
// category with Viewed Category.
func (s *Shop) handleCategory(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var items []Item
	for _, it := range everything() {
		if slices.ContainsFunc(it.Categories, func(c string) bool { return strings.EqualFold(c, name) }) {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		s.fail(w, r, errorf(http.StatusNotFound, "not_found", "no category %q", name))
		return
	}
	cat := snippets.Category{ID: strings.ToLower(name), Name: name, URL: baseURL(r) + "/demo/categories/" + url.PathEscape(name)}
	for _, c := range items[0].Categories {
		if strings.EqualFold(c, name) {
			cat.Name = c
		}
	}
	for _, it := range items {
		cat.ProductIDs = append(cat.ProductIDs, it.ID)
	}
	s.browse(w, r, BrowseView{Heading: cat.Name, Products: cards(baseURL(r), items)}, "viewed-category", "category", cat,
		func() snippets.Snippet { return snippets.ViewedCategory(cat) })
}

// handleSearch serves GET /demo/search?q=: the products whose name, brand
// or category holds the term, with Searched Site (also when nothing is
// found: those searches matter most).
func (s *Shop) handleSearch(w http.ResponseWriter, r *http.Request) {
	term := strings.TrimSpace(r.URL.Query().Get("q"))
	if term == "" {
		http.Redirect(w, r, "/demo/", http.StatusSeeOther)
		return
	}
	if len(term) > 200 {
		s.fail(w, r, &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Field: "q", Message: "must be at most 200 bytes"})
		return
	}
	low := strings.ToLower(term)
	var items []Item
	for _, it := range everything() {
		hay := strings.ToLower(it.Name + " " + it.Brand + " " + strings.Join(it.Categories, " "))
		if strings.Contains(hay, low) {
			items = append(items, it)
		}
	}
	q := snippets.Search{Term: term, ResultsCount: int64(len(items))}
	for _, it := range items {
		q.ProductIDs = append(q.ProductIDs, it.ID)
	}
	s.browse(w, r, BrowseView{Heading: "Search", Term: term, Products: cards(baseURL(r), items)}, "searched-site", "search", q,
		func() snippets.Snippet { return snippets.SearchedSite(q) })
}

// browse writes a browse page: in direct mode with the server-rendered
// snippet (recorded for the inspector, timed under the render API's
// name), in proxy mode with the helper's declarative attribute.
func (s *Shop) browse(w http.ResponseWriter, r *http.Request, v BrowseView, snippet, attr string, input any, build func() snippets.Snippet) {
	title := v.Heading
	if v.Term != "" {
		title = "Search: " + v.Term
	}
	p, err := s.newPage(w, r, title)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.chrome.Mode == ModeDirect {
		start := time.Now()
		sn := build()
		pushes, err := sn.Pushes()
		status := http.StatusOK
		if err != nil {
			e, _ := asError(err)
			status = e.Status
		}
		if s.o.Renders != nil {
			s.o.Renders.ObserveRender(snippet, status, time.Since(start))
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.Event = sn
		if s.o.Rendered != nil {
			raw := make([]json.RawMessage, len(pushes))
			for i, p := range pushes {
				raw[i] = json.RawMessage(p)
			}
			s.o.Rendered.RecordRender(p.view, raw)
		}
	} else {
		v.DeclareName, v.DeclarePayload = "data-snippetd-"+attr, jsonAttr(input)
	}
	s.write(w, r, http.StatusOK, Browse(p.chrome, v))
}

// notifyMe is the declarative back-in-stock button's JSON for variant.
func notifyMe(variant string) string { return jsonAttr(map[string]string{"variant": variant}) }
