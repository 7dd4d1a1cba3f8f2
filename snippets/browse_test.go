package snippets

import (
	"strings"
	"testing"

	"github.com/a-h/templ"
	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
)

// The pages the browse events come from: a category listing of the guide's
// seed books and a search that found them.
var (
	seedCategory = Category{ID: "fiction-children", Name: "Children's Fiction",
		URL: "http://www.example.com/c/fiction/children", ProductIDs: []string{"1111", "1112"}}
	seedSearch = Search{Term: "pooh bear", ResultsCount: 27, ProductIDs: []string{"1111", "1187", "1203"}}
)

// The expected payloads, written as plain structs that encoding/json
// encodes in field order: the SFCC cartridge's names, independently of the
// builders' hand-written encoder.
type viewedCategoryProps struct {
	ViewedCategory string   `json:"Viewed Category"`
	CategoryName   string   `json:"Category Name"`
	CategoryURL    string   `json:"Category URL,omitempty"`
	ProductIDs     []string `json:"Product IDs,omitempty"`
}

type searchedSiteProps struct {
	SearchTerm         string   `json:"Search Term"`
	SearchResultsCount int64    `json:"Search Results Count"`
	ProductIDs         []string `json:"Product IDs,omitempty"`
}

func wantViewedCategory(c Category) []any {
	return []any{[]any{"track", "Viewed Category", viewedCategoryProps{c.ID, c.Name, c.URL, c.ProductIDs}}}
}

func wantSearchedSite(s Search) []any {
	return []any{[]any{"track", "Searched Site", searchedSiteProps{s.Term, s.ResultsCount, s.ProductIDs}}}
}

func TestBrowseGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    templ.Component
	}{
		{"viewed-category", ViewedCategory(seedCategory)},
		{"viewed-category-minimal", ViewedCategory(Category{ID: "sale", Name: "Sale"})},
		{"searched-site", SearchedSite(seedSearch)},
		{"searched-site-no-results", SearchedSite(Search{Term: "unicorn mug"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, tt.c, "r4nd0m")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name, got)
			// Every script carries the nonce, and none without one set.
			plain, err := render(t, tt.c, "")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(plain, "nonce") || strings.Count(got, `<script nonce="r4nd0m">`) != 1 {
				t.Errorf("nonce: with %q, without %q", got, plain)
			}
		})
	}
}

func TestBrowsePushes(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    Snippet
		want []any
	}{
		{"category", ViewedCategory(seedCategory), wantViewedCategory(seedCategory)},
		{"category-minimal", ViewedCategory(Category{ID: "1", Name: "n"}), wantViewedCategory(Category{ID: "1", Name: "n"})},
		{"search", SearchedSite(seedSearch), wantSearchedSite(seedSearch)},
		{"search-zero", SearchedSite(Search{Term: "x"}), wantSearchedSite(Search{Term: "x"})},
		{"search-big-count", SearchedSite(Search{Term: "x", ResultsCount: 1 << 53}), wantSearchedSite(Search{Term: "x", ResultsCount: 1 << 53})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			html, err := render(t, tt.c, "")
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := extractPushes(html)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := tt.c.Pushes()
			if err != nil {
				t.Fatal(err)
			}
			var gotS, fromPushes, wantS []string
			for i, p := range got {
				gotS = append(gotS, string(p))
				fromPushes = append(fromPushes, ps[i].String())
			}
			for _, w := range tt.want {
				wantS = append(wantS, marshal(t, w))
			}
			if diff := cmp.Diff(wantS, gotS); diff != "" {
				t.Errorf("pushes in the HTML (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantS, fromPushes); diff != "" {
				t.Errorf("Pushes() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBrowseEscaping puts each hostile string into every string field of
// both events: the partial holds one inert script and the push decodes
// back to the input unchanged.
func TestBrowseEscaping(t *testing.T) {
	fields := []struct {
		name string
		make func(s string) Snippet
	}{
		{"category.id", func(s string) Snippet { c := seedCategory; c.ID = s; return ViewedCategory(c) }},
		{"category.name", func(s string) Snippet { c := seedCategory; c.Name = s; return ViewedCategory(c) }},
		{"category.url", func(s string) Snippet { c := seedCategory; c.URL = s; return ViewedCategory(c) }},
		{"category.product_ids", func(s string) Snippet {
			c := seedCategory
			c.ProductIDs = []string{"1", s}
			return ViewedCategory(c)
		}},
		{"search.term", func(s string) Snippet { q := seedSearch; q.Term = s; return SearchedSite(q) }},
		{"search.product_ids", func(s string) Snippet { q := seedSearch; q.ProductIDs = []string{s}; return SearchedSite(q) }},
	}
	for _, s := range hostile {
		for _, f := range fields {
			t.Run(f.name+"/"+s, func(t *testing.T) {
				html, err := render(t, f.make(s), "")
				if err != nil {
					t.Fatal(err)
				}
				pushes, scripts, err := extractPushes(html)
				if err != nil {
					t.Fatalf("%v\n%s", err, html)
				}
				if len(scripts) != 1 || len(pushes) != 1 {
					t.Fatalf("%d scripts and %d pushes, want 1 and 1:\n%s", len(scripts), len(pushes), html)
				}
				low := strings.ToLower(scripts[0].Text)
				for _, bad := range []string{"</script", "<!--", "<script", "\u2028", "\u2029"} {
					if strings.Contains(low, bad) {
						t.Errorf("script text contains %q", bad)
					}
				}
				if !containsString(t, pushes[0], s) {
					t.Errorf("%q not found unchanged in %s", s, pushes[0])
				}
			})
		}
	}
}

func TestBrowseValidation(t *testing.T) {
	many := make([]string, MaxShownProducts+1)
	for i := range many {
		many[i] = "p"
	}
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"category missing id", ViewedCategory(Category{Name: "n"}).Err(), "category.id"},
		{"category blank name", ViewedCategory(Category{ID: "c", Name: " "}).Err(), "category.name"},
		{"category blank product id", ViewedCategory(Category{ID: "c", Name: "n", ProductIDs: []string{"a", ""}}).Err(), "category.product_ids[1]"},
		{"category too many ids", ViewedCategory(Category{ID: "c", Name: "n", ProductIDs: many}).Err(), "category.product_ids"},
		{"search blank term", SearchedSite(Search{Term: "\t"}).Err(), "search.term"},
		{"search negative count", SearchedSite(Search{Term: "x", ResultsCount: -1}).Err(), "search.results_count"},
		{"search blank product id", SearchedSite(Search{Term: "x", ProductIDs: []string{" "}}).Err(), "search.product_ids[0]"},
		{"search too many ids", SearchedSite(Search{Term: "x", ProductIDs: many}).Err(), "search.product_ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := apperr.ErrorCode(tt.err); code != apperr.EINVALID {
				t.Fatalf("code = %q (%v), want %q", code, tt.err, apperr.EINVALID)
			}
			if got := apperr.ErrorField(tt.err); got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, tt.err)
			}
		})
	}
	for _, c := range []Snippet{ViewedCategory(Category{}), SearchedSite(Search{})} {
		if html, err := render(t, c, ""); html != "" || err == nil {
			t.Errorf("invalid input rendered %q, %v", html, err)
		}
	}
}
