package e2e

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// With consent required nothing is pushed or sent and klaviyo.js is not
// requested until consent(true); then the held calls are flushed in order
// and klaviyo.js loads (under the page's nonce-based CSP).
func TestConsentGranted(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoServe)
	body := queuedCalls + `<div data-snippetd-cart='` + mugCart + `'><button id=add data-snippetd-add-to-cart='` + seedLine(1) + `'>Add</button></div>`
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: key, ConsentRequired: true}, body)
	tab.Click("#add")
	tab.Eval(`snippetd.identify({"email":"held@example.com"}), 0`, nil)
	time.Sleep(300 * time.Millisecond)
	if got := tab.Pushes(); len(got) != 0 {
		t.Fatalf("pushed before consent: %s", got)
	}
	var scripts int
	tab.Eval(`document.querySelectorAll('script[src*="klaviyo.js"]').length`, &scripts)
	if scripts != 0 || Klaviyo().Hits(key) != 0 {
		t.Fatalf("klaviyo.js before consent: %d elements, %d requests", scripts, Klaviyo().Hits(key))
	}

	tab.Eval(`snippetd.consent(true), 0`, nil)
	tab.WaitFor("window.__klaviyoLoaded")
	tab.Eval(`snippetd.consent(true), snippetd.identify({"email":"after@example.com"}), 0`, nil)

	tl := dec[shop.LineItem](t, seedLine(1))
	var want [][]byte
	want = append(want, built(t)(snippets.ViewedProductPushes(dec[shop.Product](t, pooh)))...)
	want = append(want, built(t)(snippets.IdentifyPushes(shop.Customer{Email: "early@example.com"}))...)
	want = append(want, built(t)(snippets.AddedToCartPushes(addLine(dec[shop.Cart](t, mugCart), tl), tl))...)
	want = append(want, built(t)(snippets.IdentifyPushes(shop.Customer{Email: "held@example.com"}))...)
	want = append(want, built(t)(snippets.IdentifyPushes(shop.Customer{Email: "after@example.com"}))...)
	diffPushes(t, want, raws(tab.Pushes()))
	if n := Klaviyo().Hits(key); n != 1 {
		t.Errorf("klaviyo.js requested %d times, want once", n)
	}
}

// A shopper who consents, withdraws and consents again: klaviyo.js is
// inserted once, calls made while refused are dropped, later ones pushed.
func TestConsentChanged(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoServe)
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: key, ConsentRequired: true}, "")
	tab.Eval(`snippetd.consent(true), 0`, nil)
	tab.WaitFor("window.__klaviyoLoaded")
	tab.Eval(`snippetd.consent(false), snippetd.identify({"email":"refused@example.com"}), snippetd.consent(true), snippetd.identify({"email":"again@example.com"}), 0`, nil)
	time.Sleep(300 * time.Millisecond)
	diffPushes(t, built(t)(snippets.IdentifyPushes(shop.Customer{Email: "again@example.com"})), raws(tab.Pushes()))
	var scripts int
	tab.Eval(`document.querySelectorAll('script[src*="klaviyo.js"]').length`, &scripts)
	if scripts != 1 || Klaviyo().Hits(key) != 1 {
		t.Errorf("klaviyo.js: %d elements, %d requests; want one of each", scripts, Klaviyo().Hits(key))
	}
}

// consent(false) discards what was held and what the server-rendered
// snippets queued, deletes the __kla_id cookie, and drops later calls.
func TestConsentRefused(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoServe)
	serverSide := Render(t, snippets.ViewedProduct(dec[shop.Product](t, mug)))
	_, tab := helperPage(t, snippets.LoaderOptions{PublicKey: key, ConsentRequired: true}, serverSide)
	tab.Eval(`document.cookie = "__kla_id=eyJjaWQiOiJ4In0=; path=/", document.cookie = "other=1; path=/", 0`, nil)
	tab.Eval(`snippetd.identify({"email":"held@example.com"}), 0`, nil)
	if got := tab.Pushes(); len(got) != 2 {
		t.Fatalf("want the 2 server-rendered pushes queued, got %s", got)
	}
	tab.Eval(`snippetd.consent(false), snippetd.identify({"email":"later@example.com"}), 0`, nil)
	time.Sleep(300 * time.Millisecond)
	if got := tab.Pushes(); len(got) != 0 {
		t.Errorf("queue after consent(false): %s", got)
	}
	var cookie string
	tab.Eval(`document.cookie`, &cookie)
	if cookie != "other=1" {
		t.Errorf("cookies after consent(false): %q, want only other=1", cookie)
	}
	if n := Klaviyo().Hits(key); n != 0 {
		t.Errorf("klaviyo.js requested %d times after refusal", n)
	}
}

// consent(false) deletes __kla_id wherever klaviyo.js may have set it:
// on the host only, and on each parent domain.
func TestConsentRefusedDeletesParentDomainCookies(t *testing.T) {
	site := NewSite(t)
	tab := NewTab(t)
	page := site.Page(t.Name(), HTML(Loader(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe), ConsentRequired: true}), ""))
	// The same site under a name with parent domains (Run maps *.shop.test).
	page = strings.Replace(page, "127.0.0.1", "www.eu.shop.test", 1)
	tab.Navigate(page)
	tab.WaitHelper()
	tab.Eval(`["", ";domain=www.eu.shop.test", ";domain=eu.shop.test", ";domain=shop.test"].forEach((d, i) => document.cookie = "__kla_id=" + i + ";path=/" + d), document.cookie = "other=1;path=/;domain=shop.test", 0`, nil)
	var before string
	tab.Eval(`document.cookie`, &before)
	if strings.Count(before, "__kla_id=") != 4 {
		t.Fatalf("cookies before: %q, want four __kla_id", before)
	}
	tab.Eval(`snippetd.consent(false), 0`, nil)
	var after string
	tab.Eval(`document.cookie`, &after)
	if after != "other=1" {
		t.Errorf("cookies after consent(false): %q, want only other=1", after)
	}
}

// Proxy mode: calls of one tick go out as one POST to {prefix}e (and one
// to {prefix}i for identify), with one unique id per event; Started
// Checkout's id is its $event_id.
func TestProxyBatches(t *testing.T) {
	site, tab := helperPage(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe), ProxyEndpoint: CollectPrefix}, "")
	tab.Eval(`snippetd.viewedProduct(`+pooh+`), snippetd.identify({"email":"p@example.com","first_name":"Pat"}),
		snippetd.addedToCart(`+seedCart+`,`+seedLine(1)+`), snippetd.startedCheckout(`+seedCart+`,"2013-12-17T16:57:03Z"), 0`, nil)
	reqs := site.WaitRequests(t, 2)
	time.Sleep(200 * time.Millisecond)
	if reqs = site.Requests(); len(reqs) != 2 {
		t.Fatalf("want 2 requests for one tick, got %d: %+v", len(reqs), reqs)
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Path < reqs[j].Path })
	for i, path := range []string{CollectPrefix + "e", CollectPrefix + "i"} {
		if reqs[i].Method != "POST" || reqs[i].Path != path || !strings.HasPrefix(reqs[i].ContentType, "text/plain") {
			t.Errorf("request %d: %s %s %q, want POST %s text/plain", i, reqs[i].Method, reqs[i].Path, reqs[i].ContentType, path)
		}
	}
	var ev proxyBody
	if err := json.Unmarshal(reqs[0].Body, &ev); err != nil {
		t.Fatal(err)
	}
	var id map[string]any
	if err := json.Unmarshal(reqs[1].Body, &id); err != nil {
		t.Fatal(err)
	}
	profile := map[string]any{"email": "p@example.com", "first_name": "Pat"}
	if d := cmp.Diff(profile, id); d != "" {
		t.Errorf("identify body (-want +got):\n%s", d)
	}
	if ev.Consent != nil || ev.Kx != "" {
		t.Errorf("consent %v, kx %q: want neither without consent gating or _kx", ev.Consent, ev.Kx)
	}
	if d := cmp.Diff(profile, ev.Profile); d != "" {
		t.Errorf("events profile (-want +got):\n%s", d)
	}

	// On the wire each event is the render API's inputs, under its member
	// names, with a fresh unique id and no properties, value or time (the
	// server takes its own); Started Checkout carries its time.
	type wire struct {
		Metric               string
		Product, Cart, Added string
		Time                 string
	}
	wantWire := []wire{
		{Metric: "Viewed Product", Product: pooh},
		{Metric: "Added to Cart", Cart: seedCart, Added: seedLine(1)},
		{Metric: "Started Checkout", Cart: seedCart, Time: "1387299423000"},
	}
	var gotWire []wire
	ids := map[string]bool{}
	for _, e := range ev.Events {
		gotWire = append(gotWire, wire{e.Metric, compact(t, e.Product), compact(t, e.Cart), compact(t, e.Added), string(e.Time)})
		if e.Properties != nil || e.Value != nil {
			t.Errorf("event %s carries properties %s or value %s", e.Metric, e.Properties, e.Value)
		}
		if e.UniqueID == "" || ids[e.UniqueID] {
			t.Errorf("event %s: unique_id %q missing or repeated", e.Metric, e.UniqueID)
		}
		ids[e.UniqueID] = true
	}
	for i := range wantWire {
		wantWire[i].Product, wantWire[i].Cart, wantWire[i].Added = compact(t, []byte(wantWire[i].Product)), compact(t, []byte(wantWire[i].Cart)), compact(t, []byte(wantWire[i].Added))
	}
	if d := cmp.Diff(wantWire, gotWire); d != "" {
		t.Errorf("events on the wire (-want +got):\n%s", d)
	}

	// The proxy builds each event as the Go builder's push: metric = name,
	// value = $value, unique_id = $event_id, properties = the rest.
	c := dec[shop.Cart](t, seedCart)
	var tracks [][]byte
	tracks = append(tracks, built(t)(snippets.ViewedProductPushes(dec[shop.Product](t, pooh)))[0]) // not trackViewedItem
	tracks = append(tracks, built(t)(snippets.AddedToCartPushes(c, c.Items[1]))...)
	tracks = append(tracks, built(t)(snippets.StartedCheckoutPushes(c, time.Date(2013, 12, 17, 16, 57, 3, 0, time.UTC)))...)
	var want []any
	for _, p := range tracks {
		want = append(want, pushEvent(p))
	}
	var got []any
	for _, e := range proxied(t, reqs[0].Body).Events {
		var props any
		json.Unmarshal(e.Properties, &props)
		g := map[string]any{"metric": e.Metric, "properties": props}
		if e.Value.IsSet() {
			g["value"], _ = strconv.ParseFloat(e.Value.String(), 64)
		}
		if e.Metric == "Started Checkout" {
			g["unique_id"] = e.UniqueID
		}
		got = append(got, g)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events built by the proxy (-want +got):\n%s", d)
	}

	// A later tick is a new batch with new ids for the same calls.
	tab.Eval(`snippetd.addedToCart(`+seedCart+`,`+seedLine(1)+`), 0`, nil)
	reqs = site.WaitRequests(t, 3)
	var again proxyBody
	json.Unmarshal(reqs[2].Body, &again)
	if len(again.Events) != 1 || ids[again.Events[0].UniqueID] {
		t.Errorf("second batch %s: want one event with a new unique_id", reqs[2].Body)
	}
}

// Consent and proxy together: nothing is sent before consent, the held
// events go out in one batch after it.
func TestConsentProxy(t *testing.T) {
	site, tab := helperPage(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe), ConsentRequired: true, ProxyEndpoint: CollectPrefix}, "")
	tab.Eval(`snippetd.viewedProduct(`+pooh+`), snippetd.startedCheckout(`+seedCart+`), 0`, nil)
	time.Sleep(300 * time.Millisecond)
	if reqs := site.Requests(); len(reqs) != 0 {
		t.Fatalf("sent before consent: %+v", reqs)
	}
	tab.Eval(`snippetd.consent(true), 0`, nil)
	reqs := site.WaitRequests(t, 1)
	var body proxyBody
	json.Unmarshal(reqs[0].Body, &body)
	if len(reqs) != 1 || len(body.Events) != 2 || body.Events[0].Metric != "Viewed Product" || body.Events[1].Metric != "Started Checkout" {
		t.Errorf("after consent: %+v", reqs)
	}
}

// When the browser refuses the beacon (it throws, or its queue is full),
// the batch goes out with fetch keepalive instead, and nothing is thrown.
func TestProxyFetchFallback(t *testing.T) {
	for name, stub := range map[string]string{
		"throws":  `navigator.sendBeacon = () => { throw new TypeError("beacon refused") };`,
		"refuses": `navigator.sendBeacon = () => false;`,
	} {
		t.Run(name, func(t *testing.T) {
			site, tab := helperPage(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe), ProxyEndpoint: CollectPrefix}, Script(stub))
			tab.WaitFor(`window.__klaviyoLoaded`) // no Active on Site joins the requests
			tab.Eval(`snippetd.startedCheckout(`+seedCart+`,"2013-12-17T16:57:03Z"), 0`, nil)
			reqs := site.WaitRequests(t, 1)
			if reqs[0].Path != CollectPrefix+"e" || !strings.HasPrefix(reqs[0].ContentType, "text/plain") {
				t.Fatalf("request %s %q %s", reqs[0].Path, reqs[0].ContentType, reqs[0].Body)
			}
			if evs := proxied(t, reqs[0].Body).Events; len(evs) != 1 || evs[0].UniqueID != "1000123_1387299423" {
				t.Errorf("events %+v", evs)
			}
		})
	}
}

// An Add to Cart button that submits its form leaves the page at once; the
// batch goes out before the page unloads.
func TestProxySurvivesNavigation(t *testing.T) {
	site := NewSite(t)
	next := site.Page("next", HTML("", "<p id=next>next page</p>"))
	body := `<form action="` + next + `" data-snippetd-cart='` + mugCart + `'><input name=quantity value=2><button id=add data-snippetd-add-to-cart='` + tale + `'>Add</button></form>`
	tab := NewTab(t)
	tab.Navigate(site.Page("form", HTML(Loader(t, snippets.LoaderOptions{PublicKey: Klaviyo().Key(t, KlaviyoServe), ProxyEndpoint: CollectPrefix}), body)))
	tab.WaitHelper()
	tab.WaitFor(`window.__klaviyoLoaded`) // no Active on Site joins the requests
	tab.Click("#add")
	tab.WaitFor(`document.getElementById("next")`)
	reqs := site.WaitRequests(t, 1)
	got := proxied(t, reqs[0].Body)
	if len(got.Events) != 1 || got.Events[0].Metric != "Added to Cart" {
		t.Fatalf("request %s", reqs[0].Body)
	}
	// 3 × 19.99 + 2 × 19.99
	if v := got.Events[0].Value.String(); v != "99.95" {
		t.Errorf("value %v, want 99.95", v)
	}
}

// compact returns the JSON raw without insignificant space ("" for none).
func compact(t testing.TB, raw []byte) string {
	t.Helper()
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.String()
}

// pushEvent is a Go builder's track push as the event the proxy records
// for it: metric = name, value = $value, unique_id = $event_id,
// properties = the rest.
func pushEvent(p []byte) map[string]any {
	var push []any
	json.Unmarshal(p, &push)
	props := push[2].(map[string]any)
	e := map[string]any{"metric": push[1]}
	if v, ok := props["$value"]; ok {
		e["value"] = v
	}
	if id, ok := props["$event_id"]; ok {
		e["unique_id"] = id
	}
	delete(props, "$value")
	delete(props, "$event_id")
	e["properties"] = props
	return e
}
