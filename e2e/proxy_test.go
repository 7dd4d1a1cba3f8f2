package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// proxyShop is a storefront on the same origin as a real snippetd (through
// app.Main) with the first-party proxy on, whose outbox delivers to the
// strict fake Klaviyo with the private key.
type proxyShop struct {
	m      *app.Main
	fake   *klaviyotest.Server
	origin string
	pages  map[string]string
}

func startProxyShop(t *testing.T, extra map[string]string) *proxyShop {
	t.Helper()
	if browserCtx == nil {
		t.Skipf("e2e: no browser: %v", browserErr)
	}
	fake := klaviyotest.NewServer(t)
	// The allowed origin must be known before the server starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	s := &proxyShop{fake: fake, origin: "http://127.0.0.1:" + port, pages: map[string]string{}}
	env := map[string]string{
		"SNIPPETD_ADDR":            "127.0.0.1:" + port,
		"SNIPPETD_DATA_DIR":        t.TempDir(),
		"SNIPPETD_PUBLIC_KEY":      klaviyotest.CompanyID,
		"SNIPPETD_PRIVATE_KEY":     klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL":     fake.URL,
		"SNIPPETD_PROXY":           "on",
		"SNIPPETD_ALLOWED_ORIGINS": s.origin + ",http://www.example.com", // the fixtures' checkout_url
		// klaviyo.js is blocked in the browser; the server is never asked.
		"SNIPPETD_KLAVIYO_STATIC_URL": "http://127.0.0.1:1",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s.m = app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.m.Close(context.Background()) })
	s.m.Server.Router().PathPrefix("/shop/").HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		html, ok := s.pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "script-src 'nonce-"+Nonce+"' 'strict-dynamic'; object-src 'none'; base-uri 'none'")
		io.WriteString(w, html)
	})
	return s
}

// page serves html at /shop/<name> (before the tab loads it) and returns
// its URL.
func (s *proxyShop) page(name, html string) string {
	s.pages["/shop/"+name] = html
	return s.origin + "/shop/" + name
}

// blockKlaviyo makes the tab behave like a browser with an ad blocker:
// klaviyo.js fails to load from Klaviyo and from the proxy alike.
func blockKlaviyo(t *testing.T, tab *Tab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Context(), actionTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{
		{URLPattern: "*://static.klaviyo.com/*", Block: true},
		{URLPattern: "*://*:*/s/k.js", Block: true},
	}}); err != nil {
		t.Fatal(err)
	}
}

// productPage is a product page in proxy mode: the loader takes klaviyo.js
// from the proxy and includes the helper's proxy build; the page views the
// product (queued before the helper loads) and has an Add to Cart button.
func productPage(t *testing.T, o snippets.LoaderOptions) string {
	o.PublicKey = klaviyotest.CompanyID
	o.KlaviyoJSURL = "/s/k.js"
	o.ProxyEndpoint = "/s/"
	view := Script(`(window.snippetd = window.snippetd || []).push(["viewedProduct", ` + pooh + `]);`)
	cart := `{"id":"c-42","checkout_url":"http://www.example.com/checkout","items":[{"product":` + tale + `,"quantity":1}]}`
	return HTML(Loader(t, o), view+`<div data-snippetd-cart='`+cart+`'><button id=add data-snippetd-add-to-cart='`+seedLine(0)+`'>Add to cart</button></div>`)
}

// A shopper identified by the __kla_id cookie ($exchange_id) views a
// product and adds it to the cart on a storefront whose klaviyo.js is
// blocked: both events, and the helper's Active on Site in place of
// klaviyo.js's, reach Klaviyo through the first-party proxy and the
// outbox, with _kx set, as valid JSON:API requests, and nothing else is
// sent.
func TestProxyStorefrontBlockedKlaviyo(t *testing.T) {
	s := startProxyShop(t, nil)
	tab := NewTab(t)
	blockKlaviyo(t, tab)
	kx := "e2eShopper_0123-xyz." + klaviyotest.CompanyID
	kla := base64.StdEncoding.EncodeToString([]byte(`{"cid":"Zm9v","$exchange_id":"` + kx + `"}`))
	tab.Navigate(s.page("blank", HTML("", "")))
	tab.Eval(`document.cookie = "__kla_id=`+kla+`; path=/", 0`, nil)

	tab.Navigate(s.page("product", productPage(t, snippets.LoaderOptions{})))
	tab.WaitHelper()
	var loaded bool
	tab.Eval(`!!window.__klaviyoLoaded`, &loaded)
	if loaded {
		t.Fatal("klaviyo.js loaded; the test needs it blocked")
	}
	tab.Click("#add")

	var got []klaviyotest.Event
	for deadline := time.Now().Add(actionTimeout); ; time.Sleep(20 * time.Millisecond) {
		if got = s.fake.Events(); len(got) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(500 * time.Millisecond) // anything sent twice would arrive now
	got = s.fake.Events()

	type seen struct {
		Metric, Kx, Value string
		ProfileKeys       []string
	}
	var gotSeen []seen
	for _, e := range got {
		var keys []string
		for k := range e.Profile {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		gotSeen = append(gotSeen, seen{e.Metric, e.Profile["_kx"].(string), e.Value.String(), keys})
	}
	slices.SortFunc(gotSeen, func(a, b seen) int { return cmpStr(a.Metric, b.Metric) })
	// The cart after the click holds the tale and the pooh book.
	c := dec[shop.Cart](t, `{"id":"c-42","items":[{"product":`+tale+`,"quantity":1},{"product":`+pooh+`,"quantity":1}]}`)
	want := []seen{
		{"Active on Site", kx, "", []string{"_kx", "location"}}, // the helper's, as klaviyo.js is blocked
		{"Added to Cart", kx, c.Total().String(), []string{"_kx", "location"}},
		{"Viewed Product", kx, "", []string{"_kx", "location"}},
	}
	if d := cmp.Diff(want, gotSeen); d != "" {
		t.Errorf("events at Klaviyo (-want +got):\n%s", d)
	}
	for _, e := range got {
		if e.Metric == "Viewed Product" && e.Properties["ProductName"] != "Winnie the Pooh" {
			t.Errorf("Viewed Product properties %v", e.Properties)
		}
		if e.Metric == "Added to Cart" && e.Properties["AddedItemProductName"] != "Winnie the Pooh" {
			t.Errorf("Added to Cart properties %v", e.Properties)
		}
		if loc, _ := e.Profile["location"].(map[string]any); loc["ip"] != "127.0.0.1" {
			t.Errorf("profile location %v", e.Profile["location"])
		}
	}
	// Every request the fake saw passed its checks: the private key, the
	// revision, and the body against Klaviyo's OpenAPI schema.
	for _, r := range s.fake.Requests() {
		if r.Status != http.StatusAccepted {
			t.Errorf("fake answered %d to %s %s: %s", r.Status, r.Method, r.Path, r.Body)
		}
		var doc map[string]any
		if err := json.Unmarshal(r.Body, &doc); err != nil || doc["data"] == nil {
			t.Errorf("not a JSON:API document: %s", r.Body)
		}
	}
	if st := s.m.Proxy.Stats.Accepted.Load(); st != 3 {
		t.Errorf("proxy accepted %d events, want 3", st)
	}
}

// With consent required and withheld, the same shopper's view and add to
// cart send nothing: no request reaches the proxy, nothing reaches Klaviyo.
// The server enforces consent too (SNIPPETD_PROXY_REQUIRE_CONSENT), so
// the events accepted after consent(true) prove the helper sends the flag.
func TestProxyStorefrontConsentWithheld(t *testing.T) {
	s := startProxyShop(t, map[string]string{"SNIPPETD_PROXY_REQUIRE_CONSENT": "true"})
	tab := NewTab(t)
	blockKlaviyo(t, tab)
	kla := base64.StdEncoding.EncodeToString([]byte(`{"$exchange_id":"e2eWithheld.` + klaviyotest.CompanyID + `"}`))
	tab.Navigate(s.page("blank", HTML("", "")))
	tab.Eval(`document.cookie = "__kla_id=`+kla+`; path=/", 0`, nil)
	tab.Navigate(s.page("product", productPage(t, snippets.LoaderOptions{ConsentRequired: true})))
	tab.WaitHelper()
	tab.Click("#add")
	tab.Eval(`snippetd.identify({"email":"withheld@example.com"}), 0`, nil)
	time.Sleep(time.Second)
	st := &s.m.Proxy.Stats
	if n := st.Accepted.Load() + st.Rejected.Load() + st.DroppedConsent.Load() + st.DroppedAnonymous.Load() + st.Identified.Load(); n != 0 {
		t.Errorf("the proxy saw %d events or requests without consent", n)
	}
	if n := len(s.fake.Requests()); n != 0 {
		t.Errorf("Klaviyo received %d requests without consent", n)
	}
	// The same page does send once the shopper consents (the held calls
	// are flushed), so the silence above was the consent gate.
	tab.Eval(`snippetd.consent(true), 0`, nil)
	for deadline := time.Now().Add(actionTimeout); st.Accepted.Load() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after consent the proxy accepted %d events (dropped for consent: %d), want 2", st.Accepted.Load(), st.DroppedConsent.Load())
		}
	}
	if n := st.DroppedConsent.Load(); n != 0 {
		t.Errorf("%d events dropped for missing consent after consent(true)", n)
	}
}

// A shopper lands from a Klaviyo email (?_kx=...) on a storefront whose
// klaviyo.js is blocked: the helper sends no kx, but its Active on Site
// from the landing page carries the page URL in its Referer, the proxy
// keeps that _kx for the browser, and an event from a later page (no _kx
// in its URL) reaches Klaviyo with it.
func TestProxyLandingKx(t *testing.T) {
	s := startProxyShop(t, nil)
	tab := NewTab(t)
	freshCookies(t, tab) // no __kla_id from other tests: _kx is the only identity
	blockKlaviyo(t, tab)
	kx := "e2eLanding_42." + klaviyotest.CompanyID
	loader := Loader(t, snippets.LoaderOptions{PublicKey: klaviyotest.CompanyID, KlaviyoJSURL: "/s/k.js", ProxyEndpoint: "/s/"})
	tab.Navigate(s.page("landing", HTML(loader, "")) + "?utm_source=email&_kx=" + kx)
	tab.WaitHelper()
	for deadline := time.Now().Add(actionTimeout); s.m.Proxy.Stats.Accepted.Load() < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the landing page's Active on Site never reached the proxy")
		}
	}
	tab.Navigate(s.page("product", HTML(loader, "")))
	tab.WaitHelper()
	tab.Eval(`snippetd.viewedProduct(`+pooh+`), 0`, nil)
	var got []klaviyotest.Event
	for deadline := time.Now().Add(actionTimeout); ; time.Sleep(20 * time.Millisecond) {
		got = nil
		for _, e := range s.fake.Events() {
			if e.Metric == "Viewed Product" {
				got = append(got, e)
			}
		}
		if len(got) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != 1 || got[0].Profile["_kx"] != kx {
		t.Fatalf("Viewed Product at Klaviyo: %+v, want one with _kx %s", got, kx)
	}
}

// TestProxyPayloadParity is TestPayloadParity for the proxy build: the
// helper sends the inputs, the real proxy builds the properties with the
// Go builders, and what reaches (the strict fake) Klaviyo through the
// outbox equals in meaning the Go builders' pushes for the same inputs:
// properties without $value and $event_id, value = $value, Started
// Checkout's unique_id = $event_id.
func TestProxyPayloadParity(t *testing.T) {
	s := startProxyShop(t, nil)
	tab := NewTab(t)
	blockKlaviyo(t, tab)
	tab.Navigate(s.page("parity", HTML(Loader(t, snippets.LoaderOptions{PublicKey: klaviyotest.CompanyID, KlaviyoJSURL: "/s/k.js", ProxyEndpoint: "/s/"}), "")))
	tab.WaitHelper()
	var want []string
	for _, c := range parityCases() {
		if strings.HasPrefix(c.name, "identify") {
			continue // identify is no event: TestProxyBatches checks its body
		}
		// Each call in a task of its own: one batch each, all carrying
		// the identified profile.
		tab.Eval(`snippetd.identify({"email":"parity@example.com"}), `+c.js+`, 0`, nil)
		want = append(want, normalize(t, pushEvent(c.want(t)[0])))
	}
	var got []string
	collect := func() {
		got = got[:0]
		for _, e := range s.fake.Events() {
			if e.Metric == "Active on Site" {
				continue
			}
			if e.Profile["email"] != "parity@example.com" {
				t.Errorf("%s profile %v", e.Metric, e.Profile)
			}
			g := map[string]any{"metric": e.Metric, "properties": e.Properties}
			if e.Value != "" {
				g["value"] = e.Value
			}
			if e.Metric == "Started Checkout" {
				g["unique_id"] = e.UniqueID
			}
			got = append(got, normalize(t, g))
		}
	}
	for deadline := time.Now().Add(actionTimeout); ; time.Sleep(20 * time.Millisecond) {
		if collect(); len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(300 * time.Millisecond) // anything sent twice would arrive now
	collect()
	slices.Sort(want)
	slices.Sort(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events at Klaviyo (-want +got):\n%s", d)
	}
}

// normalize is v as canonical JSON: numbers as float64, keys sorted.
func normalize(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var plain any
	if err := json.Unmarshal(b, &plain); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(plain)
	return string(b)
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
