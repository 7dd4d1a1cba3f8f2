package check

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// gatePage is a page that pushes one ["track","Gate",{"via":...}] per
// element of via: what it saw of the request or of the shopper.
func gatePage(via ...string) string {
	var b strings.Builder
	b.WriteString("<!doctype html><html><head><meta charset=\"utf-8\"><title>gate</title></head><body><p>staging</p>\n<script>window.klaviyo = window.klaviyo || [];\n")
	for _, v := range via {
		fmt.Fprintf(&b, "klaviyo.push([\"track\", \"Gate\", {\"via\": %q}]);\n", v)
	}
	b.WriteString("</script></body></html>")
	return b.String()
}

// gates returns the "via" of each Gate push of res, in order.
func gates(res *Result) []string {
	var out []string
	for _, p := range res.Pushes {
		if p.Metric() == "Gate" {
			var v struct {
				Via string `json:"via"`
			}
			if trackProps(p, &v) == nil {
				out = append(out, v.Via)
			}
		}
	}
	return out
}

// trackProps decodes the properties of a track call into v.
func trackProps(p Push, v any) error {
	var c []json.RawMessage
	if err := json.Unmarshal(p.Call, &c); err != nil {
		return err
	}
	if len(c) < 3 {
		return fmt.Errorf("call %s has no properties", p.Call)
	}
	return json.Unmarshal(c[2], v)
}

// hits counts the requests a server received by path.
type hits struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *hits) add(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[path]++
}

func (h *hits) get(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[path]
}

func (h *hits) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, v := range h.n {
		n += v
	}
	return n
}

// productPage is testdata/good.html with another product id, so that each
// crawled page's Viewed Product names its page.
func productPage(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/good.html")
	if err != nil {
		t.Fatal(err)
	}
	page := strings.Replace(string(b), `"ProductID": "1111"`, `"ProductID": "`+id+`"`, 1)
	if page == string(b) {
		t.Fatal("testdata/good.html no longer has ProductID 1111")
	}
	return page
}

// TestCrawl: --crawl N checks the start page and the first N distinct
// same-origin product links, each in both modes; a product link on
// another origin, links that are not product pages and links beyond N are
// never opened.
func TestCrawl(t *testing.T) {
	b := needBrowser(t)
	var offHits, siteHits hits
	off := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offHits.add(r.URL.Path)
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(productPage(t, "off")))
	}))
	t.Cleanup(off.Close)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		siteHits.add(r.URL.Path)
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/":
			// The off-origin product link comes first: it must not use up
			// the cap either.
			fmt.Fprintf(w, `<!doctype html><html><body><h1>Shop</h1>
<a href="%s/products/elsewhere">elsewhere</a>
<a href="/about">about</a>
<a href="/products/a">A</a>
<a href="/products/a#reviews">A's reviews</a>
<a href="products/b">B</a>
<a href="/product/c">C</a>
<a href="/products/d">D</a>
<a href="/">home</a>
</body></html>`, off.URL)
		case "/products/a", "/products/b", "/product/c", "/products/d":
			w.Write([]byte(productPage(t, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])))
		case "/about":
			w.Write([]byte(gatePage("about")))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(site.Close)

	for _, tt := range []struct {
		crawl int
		want  []string // product ids of the crawled pages, in order
	}{
		{0, nil},
		{2, []string{"a", "b"}},
	} {
		t.Run(fmt.Sprint("crawl=", tt.crawl), func(t *testing.T) {
			rep, err := b.Check(context.Background(), site.URL+"/", Options{Crawl: tt.crawl, Settle: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			type run struct {
				URL     string
				Mode    Mode
				Product string
			}
			var got []run
			for _, res := range rep.Results {
				id := ""
				for _, p := range res.Pushes {
					if p.Metric() == "Viewed Product" {
						var v struct{ ProductID string }
						if err := trackProps(p, &v); err != nil {
							t.Fatalf("push %s: %v", p.Call, err)
						}
						id = v.ProductID
					}
				}
				got = append(got, run{res.URL, res.Mode, id})
				for _, p := range res.Problems {
					t.Errorf("%s %s: %s", res.URL, res.Mode, p)
				}
			}
			want := []run{{site.URL + "/", Loaded, ""}, {site.URL + "/", Blocked, ""}}
			for _, id := range tt.want {
				path := "/products/" + id
				want = append(want, run{site.URL + path, Loaded, id}, run{site.URL + path, Blocked, id})
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("runs (-want +got):\n%s", d)
			}
		})
	}
	if n := offHits.total(); n != 0 {
		t.Errorf("the other origin was asked %d times: %v", n, offHits.n)
	}
	for _, p := range []string{"/about", "/product/c", "/products/d"} {
		if n := siteHits.get(p); n != 0 {
			t.Errorf("%s was opened %d times, want never", p, n)
		}
	}
	if n := siteHits.get("/products/a"); n != 2 {
		t.Errorf("/products/a was opened %d times, want twice (its link and its #reviews link are one page; once per mode)", n)
	}
}

// TestHeaderAndCookie: a staging page that only pushes when it sees the
// header, or the cookie, does so in both modes when the check sends them,
// and not otherwise. Both reach every page of the shop, not only the start
// URL's directory, and its scripts; the header never reaches another
// origin.
func TestHeaderAndCookie(t *testing.T) {
	b := needBrowser(t)
	// A third party the staging page loads a script from: the staging
	// key is for the shop, never for others.
	var leaked hits
	third := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Staging-Key") != "" {
			leaked.add(r.URL.Path)
		}
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte("window.thirdParty = true;"))
	}))
	t.Cleanup(third.Close)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/js/klaviyo.js" {
			// A first-party copy of klaviyo.js: blocked in blocked mode
			// although the site's requests carry the header.
			w.Header().Set("Content-Type", "text/javascript")
			w.Write([]byte(`klaviyo.push(["track", "Gate", {"via": "first-party klaviyo.js"}]);`))
			return
		}
		if r.URL.Path == "/app.js" {
			// A same-origin script gets the header too.
			w.Header().Set("Content-Type", "text/javascript")
			if r.Header.Get("X-Staging-Key") == "open sesame" {
				w.Write([]byte(`klaviyo.push(["track", "Gate", {"via": "script"}]);`))
			}
			return
		}
		var via []string
		if r.Header.Get("X-Staging-Key") == "open sesame" {
			via = append(via, "header")
		}
		if c, err := r.Cookie("staging"); err == nil && c.Value == "let-me-in" {
			via = append(via, "cookie")
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(strings.Replace(gatePage(via...), "</body>", `<script src="/app.js"></script><script src="/js/klaviyo.js"></script><script src="`+third.URL+`/lib.js"></script></body>`, 1)))
	}))
	t.Cleanup(site.Close)
	tests := []struct {
		name string
		o    Options
		want []string // what each page pushes, beside the first-party klaviyo.js
	}{
		{"neither", Options{}, nil},
		{"header", Options{Headers: map[string]string{"X-Staging-Key": "open sesame"}}, []string{"header", "script"}},
		{"cookie", Options{Cookies: map[string]string{"staging": "let-me-in"}}, []string{"cookie"}},
		{"both", Options{Headers: map[string]string{"X-Staging-Key": "open sesame"}, Cookies: map[string]string{"staging": "let-me-in"}},
			[]string{"header", "cookie", "script"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Settle = 100 * time.Millisecond
			// The start page is in a directory; the step opens a page
			// outside it, as a walk to the cart does.
			tt.o.Steps = []Step{{Open: "/cart"}}
			rep, err := b.Check(context.Background(), site.URL+"/shop/start", tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 2 {
				t.Fatalf("%d results, want 2", len(rep.Results))
			}
			for _, res := range rep.Results {
				// Each of the two pages pushes what it saw; the first-party
				// klaviyo.js runs only when klaviyo.js is not blocked.
				var want []string
				for range 2 {
					want = append(want, tt.want...)
					if res.Mode == Loaded {
						want = append(want, "first-party klaviyo.js")
					}
				}
				if d := cmp.Diff(want, gates(res)); d != "" {
					t.Errorf("%s: pushes (-want +got):\n%s", res.Mode, d)
				}
				if len(res.Problems) != 0 {
					t.Errorf("%s: problems %v", res.Mode, res.Problems)
				}
			}
		})
	}
	if n := leaked.total(); n != 0 {
		t.Errorf("the staging header went to another origin %d times", n)
	}
}

// consentPage shows its banner after a moment and loads its tracking only
// once the banner's button is clicked, as a consent manager does.
const consentPage = `<!doctype html><html><head><meta charset="utf-8"><title>consent</title></head><body>
<div id="banner" style="display:none">We use cookies. <button id="accept">Accept</button></div>
<script>
setTimeout(function () { document.getElementById("banner").style.display = "block"; }, 300);
document.getElementById("accept").addEventListener("click", function () {
  document.getElementById("banner").remove();
  window.klaviyo = window.klaviyo || [];
  klaviyo.push(["track", "Gate", {"via": "consent"}]);
});
</script></body></html>`

// TestConsentSelector: with the banner's selector the check clicks it once
// it shows, and the tracking it held back runs in both modes; without it,
// nothing is pushed; a selector that is not CSS is a walk problem.
func TestConsentSelector(t *testing.T) {
	b := needBrowser(t)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(consentPage))
	}))
	t.Cleanup(site.Close)
	for _, tt := range []struct {
		selector string
		want     []string
		rules    []string
	}{
		{"", nil, nil},
		{"#banner #accept", []string{"consent"}, nil},
		{"#banner >>> button", nil, []string{"walk"}},
	} {
		t.Run(tt.selector, func(t *testing.T) {
			rep, err := b.Check(context.Background(), site.URL+"/", Options{ConsentSelector: tt.selector, Settle: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			for _, res := range rep.Results {
				if d := cmp.Diff(tt.want, gates(res)); d != "" {
					t.Errorf("%s: pushes (-want +got):\n%s", res.Mode, d)
				}
				var rules []string
				for _, p := range res.Problems {
					rules = append(rules, p.Rule)
				}
				if d := cmp.Diff(tt.rules, rules); d != "" {
					t.Errorf("%s: failed rules (-want +got):\n%s", res.Mode, d)
				}
			}
		})
	}
}

// TestCatalogOverHTTP: the catalog feed is fetched from its URL with the
// check's headers (a staging feed behind the same key); on a page with a
// product the feed lists and a cart row it does not, only the unknown one
// is reported, by unknown-product, in both modes. A feed that cannot be
// read stops the check with an error naming it.
func TestCatalogOverHTTP(t *testing.T) {
	b := needBrowser(t)
	var feedHits hits
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/feed.xml":
			feedHits.add(r.URL.Path)
			if r.Header.Get("X-Staging-Key") != "open sesame" {
				http.Error(w, "staging", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/xml")
			w.Write([]byte(`<?xml version="1.0"?><Products><Product><id>1111</id><title>Winnie the Pooh</title></Product><Product><id> 2222 </id></Product></Products>`))
		case "/good.html":
			http.ServeFile(w, r, "testdata/good.html")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(site.Close)

	o := Options{Steps: shopperSteps[:1], CatalogURL: site.URL + "/feed.xml", Headers: map[string]string{"X-Staging-Key": "open sesame"}, Settle: 100 * time.Millisecond}
	rep, err := b.Check(context.Background(), site.URL+"/good.html", o)
	if err != nil {
		t.Fatal(err)
	}
	type problem struct {
		Rule         string
		Mode         Mode
		Event, Field string
		Value        string
	}
	var got []problem
	for _, p := range rep.Problems() {
		got = append(got, problem{p.Rule, p.Mode, p.Event, p.Field, p.Value})
	}
	// good.html shows 1111 (listed) and its cart holds 1112 (not listed)
	// before the shopper adds 1111.
	var want []problem
	for _, m := range []Mode{Loaded, Blocked} {
		want = append(want, problem{"unknown-product", m, "Added to Cart", "Items[0].ProductID", `"1112"`})
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	if n := feedHits.get("/feed.xml"); n != 1 {
		t.Errorf("the feed was fetched %d times, want once per check", n)
	}

	o.Headers = nil
	if _, err := b.Check(context.Background(), site.URL+"/good.html", o); err == nil || !strings.Contains(err.Error(), site.URL+"/feed.xml") || !strings.Contains(err.Error(), "401") {
		t.Errorf("feed answering 401: error %v", err)
	}
}
