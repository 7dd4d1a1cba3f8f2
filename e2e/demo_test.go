package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/demo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// demoToken is the API token of the demo servers (the inspector needs it
// when a private key is configured).
const demoToken = "e2e-demo-token"

// demoShop is a real snippetd (app.Main) serving the demo shop, whose
// outbox delivers to the strict fake Klaviyo with the private key.
type demoShop struct {
	m      *app.Main
	fake   *klaviyotest.Server
	origin string
}

// startDemoShop starts snippetd with the demo on; with proxy, the
// first-party proxy is on too (klaviyo.js upstream unreachable).
func startDemoShop(t *testing.T, proxy bool) *demoShop {
	t.Helper()
	if browserCtx == nil {
		t.Skipf("e2e: no browser: %v", browserErr)
	}
	fake := klaviyotest.NewServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	s := &demoShop{fake: fake, origin: "http://127.0.0.1:" + port}
	env := map[string]string{
		"SNIPPETD_ADDR":             "127.0.0.1:" + port,
		"SNIPPETD_DATA_DIR":         t.TempDir(),
		"SNIPPETD_PRIVATE_KEY":      klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL":      fake.URL,
		"SNIPPETD_API_TOKEN":        demoToken,
		"SNIPPETD_DEMO":             "force",
		"SNIPPETD_PROXY_RATE":       "50",
		"SNIPPETD_PROXY_BURST":      "100",
		"SNIPPETD_LOG_LEVEL":        "warn",
		"SNIPPETD_OUTBOX_RETENTION": "1h",
	}
	if proxy {
		env["SNIPPETD_PUBLIC_KEY"] = klaviyotest.CompanyID
		env["SNIPPETD_PROXY"] = "on"
		env["SNIPPETD_ALLOWED_ORIGINS"] = s.origin
		env["SNIPPETD_KLAVIYO_STATIC_URL"] = "http://127.0.0.1:1"
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s.m = app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := s.m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.m.Close(context.Background()) })
	return s
}

// freshCookies clears the browser's cookies: every tab of the test binary
// shares them, and cookies ignore ports.
func freshCookies(t *testing.T, tab *Tab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Context(), actionTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
}

// screenshot writes the tab's viewport to docs/images/name.png, only when
// UPDATE_SCREENSHOTS=1 (so that CI never dirties the tree).
func screenshot(t *testing.T, tab *Tab, name string) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	ctx, cancel := context.WithTimeout(tab.Context(), actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "docs", "images", name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// pageCart is the cart the page exposes to the helper.
func pageCart(t *testing.T, tab *Tab) shop.Cart {
	t.Helper()
	var raw string
	tab.Eval(`document.querySelector("main").getAttribute("data-snippetd-cart")`, &raw)
	return dec[shop.Cart](t, raw)
}

// inspectorRow is one row of the inspector's table.
type inspectorRow struct{ Source, Metric, State, Profile string }

func inspectorRows(t *testing.T, tab *Tab) []inspectorRow {
	t.Helper()
	var rows []inspectorRow
	tab.Eval(`Array.from(document.querySelectorAll("#events tr[data-id]")).map(tr => ({Source: tr.dataset.source, Metric: tr.dataset.metric, State: tr.dataset.state, Profile: tr.dataset.who}))`, &rows)
	slices.SortFunc(rows, func(a, b inspectorRow) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return rows
}

func sortedRows(rows ...inspectorRow) []inspectorRow {
	slices.SortFunc(rows, func(a, b inspectorRow) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return rows
}

// waitEvents waits until the fake Klaviyo kept n events, then a little
// longer so that anything sent twice would show.
func (s *demoShop) waitEvents(t *testing.T, n int) []klaviyotest.Event {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); len(s.fake.Events()) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Klaviyo received %d events, want %d: %+v", len(s.fake.Events()), n, s.fake.Stats())
		}
	}
	time.Sleep(700 * time.Millisecond)
	return s.fake.Events()
}

// checkRequests checks that every request Klaviyo received was accepted:
// the private key, the revision and the body against the OpenAPI slices.
func (s *demoShop) checkRequests(t *testing.T) {
	t.Helper()
	for _, r := range s.fake.Requests() {
		if r.Status != http.StatusAccepted {
			t.Errorf("fake Klaviyo answered %d to %s %s: %s", r.Status, r.Method, r.Path, r.Body)
		}
	}
	if st := s.fake.Stats(); st.Duplicates != 0 {
		t.Errorf("Klaviyo received %d duplicate events", st.Duplicates)
	}
}

// shopThrough walks the shop as a shopper: view the kettle, add it and a
// mug, go to checkout, type an email, place the order. It returns the
// order id and the cart as the helper saw it.
func shopThrough(t *testing.T, s *demoShop, tab *Tab, email string, direct bool) (orderID string, cart shop.Cart) {
	t.Helper()
	tab.Navigate(s.origin + "/demo/products/kettle?debug=1")
	tab.WaitHelper()
	base := s.origin
	kettle, _ := demo.Find("kettle")
	mug, _ := demo.Find("mug")
	var want [][]byte
	if direct {
		want = append(want, built(t)(snippets.ViewedProductPushes(kettle.WithURLs(base)))...)
		// The local klaviyo.js stand-in ran and left the queue in place.
		tab.WaitFor(`document.querySelectorAll("#kl-debug li").length === 2`)
	} else {
		// The overlay lists what the helper sent to the proxy (an Active
		// on Site may come first, once per session).
		tab.WaitFor(sentToProxy("Viewed Product", `"id":"kettle"`) + ` === 1`)
	}
	diffPushes(t, want, raws(tab.Pushes()))

	empty := pageCart(t, tab)
	if len(empty.Items) != 0 {
		t.Fatalf("cart at start: %+v", empty)
	}
	tab.Click("#add-kettle")
	tab.WaitFor(`document.querySelector("#cart-count").textContent === "1"`)
	tab.Click("#add-mug")
	tab.WaitFor(`document.querySelector("#cart-count").textContent === "2"`)
	one := demo.Cart(empty.ID, base, []demo.Line{{ID: "kettle", Quantity: 1}})
	two := demo.Cart(empty.ID, base, []demo.Line{{ID: "kettle", Quantity: 1}, {ID: "mug", Quantity: 1}})
	if direct {
		want = append(want, built(t)(snippets.AddedToCartPushes(one, shop.LineItem{Product: kettle.WithURLs(base), Quantity: 1}))...)
		want = append(want, built(t)(snippets.AddedToCartPushes(two, shop.LineItem{Product: mug.WithURLs(base), Quantity: 1}))...)
		tab.WaitFor(`document.querySelectorAll("#kl-debug li").length === 4`)
	} else {
		tab.WaitFor(sentToProxy("Added to Cart", `"id":"mug"`) + ` === 1 && ` + sentToProxy("Added to Cart", "") + ` === 2`)
	}
	diffPushes(t, want, raws(tab.Pushes()))
	if direct && os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		tab.Eval(`window.scrollTo(0, 0), 0`, nil)
		time.Sleep(300 * time.Millisecond)
		screenshot(t, tab, "demo-product")
	}

	tab.Navigate(s.origin + "/demo/cart")
	var lines int
	tab.Eval(`document.querySelectorAll("#cart tbody tr").length`, &lines)
	if lines != 2 {
		t.Fatalf("cart page shows %d lines, want 2", lines)
	}
	tab.Do(chromedp.Click(chromedp.CSS("#checkout")), chromedp.WaitVisible(chromedp.CSS("#place-order")))
	tab.WaitHelper()
	cart = pageCart(t, tab)
	if d := cmp.Diff(two, cart, cmp.Comparer(func(a, b shop.Money) bool { return a == b })); d != "" {
		t.Fatalf("checkout cart (-want +got):\n%s", d)
	}
	tab.Type("#email", email)
	tab.Type("#first_name", "Robin")
	tab.Type("#city", "Portland")
	if direct {
		tab.WaitFor(`(window._klOnsite || []).length === 2`)
		got := raws(tab.Pushes())
		// Started Checkout's $event_id is the cart id and the second the
		// helper sent it; rebuild the expected push at that time.
		var sc []any
		json.Unmarshal(got[1], &sc)
		eventID, _ := sc[2].(map[string]any)["$event_id"].(string)
		sec, err := strconv.ParseInt(strings.TrimPrefix(eventID, cart.ID+"_"), 10, 64)
		if err != nil {
			t.Fatalf("Started Checkout $event_id %q is not <cart id>_<unix seconds>", eventID)
		}
		var wantCheckout [][]byte
		wantCheckout = append(wantCheckout, built(t)(snippets.IdentifyPushes(shop.Customer{Email: email}))...)
		wantCheckout = append(wantCheckout, built(t)(snippets.StartedCheckoutPushes(cart, time.Unix(sec, 0)))...)
		diffPushes(t, wantCheckout, got)
		tab.WaitFor(`document.querySelectorAll("#kl-debug li").length === 2`)
		screenshot(t, tab, "demo-checkout")
	} else {
		time.Sleep(time.Second) // the helper's identify debounce (750ms)
		if got := tab.Pushes(); len(got) != 0 {
			t.Errorf("proxy mode pushed onto the klaviyo queue: %s", got)
		}
		tab.WaitFor(sentToProxy("identify", `"email":"`+email+`"`) + ` === 1 && ` + sentToProxy("Started Checkout", "") + ` === 1`)
	}
	tab.Do(chromedp.Click(chromedp.CSS("#place-order")), chromedp.WaitVisible(chromedp.CSS("#order-id")))
	tab.Eval(`document.querySelector("#order-id").textContent`, &orderID)
	if !strings.HasPrefix(orderID, "LK-") {
		t.Fatalf("confirmation shows order %q", orderID)
	}
	return orderID, cart
}

// sentToProxy is a JavaScript expression counting the ?debug=1 overlay's
// lines (in proxy mode, what the helper sent to the proxy) for what (an
// event's metric, or "identify") that contain part.
func sentToProxy(what, part string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll("#kl-debug[data-proxy] li")).filter(li => li.textContent.startsWith(%q) && li.textContent.includes(%q)).length`, `["`+what+`"`, part)
}

// TestDemoShopDirect walks the demo shop in direct mode (browser events
// through klaviyo.js, here the local stand-in): every push is the Go
// builders' payload, the inspector lists every event and updates live, and
// Klaviyo receives exactly the order's events from the outbox.
func TestDemoShopDirect(t *testing.T) {
	s := startDemoShop(t, false)
	tab := NewTab(t)
	freshCookies(t, tab)
	tab.Do(chromedp.EmulateViewport(1280, 860))

	// The inspector, opened first, must update by itself (server-sent
	// events) as the shopper goes.
	insp := NewTab(t)
	insp.Do(chromedp.EmulateViewport(1280, 860))
	insp.Navigate(s.origin + "/debug/events?token=" + demoToken)
	insp.WaitFor(`document.querySelector("#live.on")`)

	const email = "robin@example.com"
	orderID, _ := shopThrough(t, s, tab, email, true)

	got := s.waitEvents(t, 3)
	type seen struct{ Path, Metric, UniqueID, Email string }
	var gotSeen []seen
	for _, e := range got {
		gotSeen = append(gotSeen, seen{e.Path, e.Metric, e.UniqueID, fmt.Sprint(e.Profile["email"])})
	}
	want := []seen{
		{klaviyotest.PathEvents, "Placed Order", orderID, email},
		{klaviyotest.PathEvents, "Ordered Product", orderID + ":0", email},
		{klaviyotest.PathEvents, "Ordered Product", orderID + ":1", email},
	}
	if d := cmp.Diff(want, gotSeen); d != "" {
		t.Errorf("events at Klaviyo (-want +got):\n%s", d)
	}
	for _, e := range got {
		if e.Metric == "Placed Order" && e.Value.String() != "82" {
			t.Errorf("Placed Order value %s, want 82 (64 + 18)", e.Value)
		}
	}
	s.checkRequests(t)

	insp.WaitFor(`document.querySelectorAll('#events tr[data-source="orders"][data-state="delivered"]').length === 3`)
	wantRows := sortedRows(
		inspectorRow{"render", "Viewed Product", "pushed", ""},
		inspectorRow{"render", "trackViewedItem", "pushed", ""},
		inspectorRow{"helper", "Added to Cart", "pushed", ""},
		inspectorRow{"helper", "Added to Cart", "pushed", ""},
		inspectorRow{"helper", "identify", "pushed", email},
		inspectorRow{"helper", "Started Checkout", "pushed", email},
		inspectorRow{"orders", "Placed Order", "delivered", "email:" + email},
		inspectorRow{"orders", "Ordered Product", "delivered", "email:" + email},
		inspectorRow{"orders", "Ordered Product", "delivered", "email:" + email},
	)
	if d := cmp.Diff(wantRows, inspectorRows(t, insp)); d != "" {
		t.Errorf("inspector rows (-want +got):\n%s", d)
	}
	screenshot(t, insp, "inspector")

	// One event's page shows the JSON:API request Klaviyo received.
	insp.Do(chromedp.Click(chromedp.CSS(`#events tr[data-metric="Placed Order"] a`)), chromedp.WaitVisible(chromedp.CSS("#request")))
	var req string
	insp.Eval(`document.querySelector("#request").textContent`, &req)
	var placed klaviyotest.Event
	for _, e := range got {
		if e.Metric == "Placed Order" {
			placed = e
		}
	}
	body, ok := strings.CutPrefix(req, "POST /api/events\n")
	if !ok || !jsonEqual(t, []byte(body), placed.Raw) {
		t.Errorf("inspector's request\n%s\nis not what Klaviyo received\n%s", req, placed.Raw)
	}
	screenshot(t, insp, "inspector-event")

	// Filtering by profile keeps only the shopper's events.
	insp.Navigate(s.origin + "/debug/events?profile=" + email)
	if rows := inspectorRows(t, insp); len(rows) != 5 {
		t.Errorf("filtered by profile: %d rows, want 5 (identify, Started Checkout and the order's 3): %+v", len(rows), rows)
	}
}

// TestDemoShopProxy walks the same shop in proxy mode with klaviyo.js
// blocked, as a returning shopper (the __kla_id cookie carries an exchange
// id): every browser event reaches Klaviyo through the first-party proxy and
// the outbox, and the inspector lists them with the order's.
func TestDemoShopProxy(t *testing.T) {
	s := startDemoShop(t, true)
	tab := NewTab(t)
	freshCookies(t, tab)
	tab.Do(chromedp.EmulateViewport(1280, 860))
	blockKlaviyo(t, tab)
	kx := "e2eDemoShopper_42." + klaviyotest.CompanyID
	kla := base64.StdEncoding.EncodeToString([]byte(`{"cid":"ZGVtbw","$exchange_id":"` + kx + `"}`))

	tab.Navigate(s.origin + "/demo/")
	tab.Eval(`document.cookie = "__kla_id=`+kla+`; path=/", 0`, nil)
	tab.Do(chromedp.Click(chromedp.CSS("#mode-proxy")), chromedp.WaitVisible(chromedp.CSS("span#mode-proxy.on")))

	const email = "sam@example.com"
	orderID, cart := shopThrough(t, s, tab, email, false)

	got := s.waitEvents(t, 9)
	type seen struct{ Metric, Kx, Email string }
	var gotSeen []seen
	for _, e := range got {
		k, _ := e.Profile["_kx"].(string)
		em, _ := e.Profile["email"].(string)
		gotSeen = append(gotSeen, seen{e.Metric, k, em})
	}
	slices.SortFunc(gotSeen, func(a, b seen) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	if len(gotSeen) != 9 {
		t.Fatalf("Klaviyo received %d events, want 9: %+v", len(gotSeen), gotSeen)
	}
	metrics := map[string]int{}
	for _, e := range got {
		metrics[e.Metric]++
		if e.Profile["_kx"] == nil && e.Profile["email"] == nil {
			t.Errorf("%s reached Klaviyo without an identifier: %v", e.Metric, e.Profile)
		}
		switch e.Metric {
		case "Viewed Product", "Added to Cart":
			if e.Profile["_kx"] != kx {
				t.Errorf("%s profile %v, want _kx %s from the __kla_id cookie", e.Metric, e.Profile, kx)
			}
		case "Started Checkout":
			if e.Profile["email"] != email || e.Value.String() != cart.Total().String() {
				t.Errorf("Started Checkout profile %v value %s", e.Profile, e.Value)
			}
		case "Placed Order":
			if e.UniqueID != orderID {
				t.Errorf("Placed Order unique_id %s, want %s", e.UniqueID, orderID)
			}
		}
	}
	wantMetrics := map[string]int{"Viewed Product": 1, "Added to Cart": 2, "Active on Site": 2, "Started Checkout": 1, "Placed Order": 1, "Ordered Product": 2}
	if d := cmp.Diff(wantMetrics, metrics); d != "" {
		t.Errorf("metrics at Klaviyo (-want +got):\n%s", d)
	}
	s.checkRequests(t)

	insp := NewTab(t)
	insp.Navigate(s.origin + "/debug/events?token=" + demoToken)
	insp.WaitFor(`document.querySelectorAll('#events tr[data-state="delivered"]').length === 9`)
	var gotRows []string
	for _, r := range inspectorRows(t, insp) {
		gotRows = append(gotRows, r.Source+" "+r.Metric+" "+r.State)
	}
	wantRows := []string{
		"orders Ordered Product delivered", "orders Ordered Product delivered", "orders Placed Order delivered",
		"proxy Active on Site delivered", "proxy Active on Site delivered", "proxy Added to Cart delivered", "proxy Added to Cart delivered",
		"proxy Started Checkout delivered", "proxy Viewed Product delivered",
	}
	if d := cmp.Diff(wantRows, gotRows); d != "" {
		t.Errorf("inspector rows (-want +got):\n%s", d)
	}
}

// jsonEqual compares two JSON documents by meaning.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return cmp.Equal(x, y)
}
