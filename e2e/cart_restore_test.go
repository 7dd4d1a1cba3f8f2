package e2e

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/shop"
)

// TestCartRestoreLink: a shopper adds two products (one twice) to the
// demo shop's cart in proxy mode; the Added to Cart event Klaviyo
// receives carries a restore link as CheckoutURL; opened in a fresh
// incognito browser context (another device: no cookies), it shows the
// same cart, lines and quantities.
func TestCartRestoreLink(t *testing.T) {
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
	origin := "http://127.0.0.1:" + port
	env := map[string]string{
		"SNIPPETD_ADDR":               "127.0.0.1:" + port,
		"SNIPPETD_DATA_DIR":           t.TempDir(),
		"SNIPPETD_PRIVATE_KEY":        klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL":        fake.URL,
		"SNIPPETD_PUBLIC_KEY":         klaviyotest.CompanyID,
		"SNIPPETD_DEMO":               "force", // with the fake Klaviyo's private key,
		"SNIPPETD_PROXY":              "on",
		"SNIPPETD_ALLOWED_ORIGINS":    origin,
		"SNIPPETD_KLAVIYO_STATIC_URL": "http://127.0.0.1:1",
		"SNIPPETD_PROXY_RATE":         "50",
		"SNIPPETD_PROXY_BURST":        "100",
		"SNIPPETD_LOG_LEVEL":          "warn",
		// The demo names its own checkout URL; "always" replaces it.
		"SNIPPETD_PUBLIC_URL":   origin,
		"SNIPPETD_CART_RESTORE": "always",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })

	// The first device: a returning shopper (exchange id), proxy mode.
	tab := NewTab(t)
	freshCookies(t, tab)
	tab.Do(chromedp.EmulateViewport(1280, 860))
	blockKlaviyo(t, tab)
	kla := base64.StdEncoding.EncodeToString([]byte(`{"cid":"ZGVtbw","$exchange_id":"e2eRestore_1.` + klaviyotest.CompanyID + `"}`))
	tab.Navigate(origin + "/demo/")
	tab.Eval(`document.cookie = "__kla_id=`+kla+`; path=/", 0`, nil)
	tab.Do(chromedp.Click(chromedp.CSS("#mode-proxy")), chromedp.WaitVisible(chromedp.CSS("span#mode-proxy.on")))
	tab.Navigate(origin + "/demo/products/kettle?debug=1")
	tab.WaitHelper()
	tab.WaitFor(sentToProxy("Viewed Product", `"id":"kettle"`) + ` === 1`)
	tab.Click("#add-kettle")
	tab.WaitFor(`document.querySelector("#cart-count").textContent === "1"`)
	tab.Click("#add-mug")
	tab.WaitFor(`document.querySelector("#cart-count").textContent === "2"`)
	tab.Click("#add-mug")
	tab.WaitFor(`document.querySelector("#cart-count").textContent === "3"`)
	tab.Navigate(origin + "/demo/cart")
	want := pageCart(t, tab)

	// The CheckoutURL of the last Added to Cart Klaviyo received.
	var link string
	for deadline := time.Now().Add(30 * time.Second); link == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no Added to Cart of the whole cart reached Klaviyo: %+v", fake.Events())
		}
		for _, e := range fake.Events() {
			// The event of the whole cart: its value is the cart's total.
			if e.Metric == "Added to Cart" && e.Value.String() == want.Total().String() {
				link, _ = e.Properties["CheckoutURL"].(string)
			}
		}
	}
	if !strings.HasPrefix(link, origin+"/r/") {
		t.Fatalf("CheckoutURL %q is not a restore link on %s", link, origin)
	}

	// The second device: a new incognito browser context, no cookies.
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open incognito tab: %v", err)
	}
	other := &Tab{t: t, ctx: ctx}
	other.Navigate(link + "?utm_source=klaviyo&utm_medium=email")
	var at string
	other.Eval(`location.pathname`, &at)
	if at != "/demo/cart" {
		t.Fatalf("the restore link landed on %s", at)
	}
	got := pageCart(t, other)
	lines := func(c shop.Cart) map[string]int64 {
		m := map[string]int64{}
		for _, l := range c.Items {
			m[l.Product.ID] += l.Quantity
		}
		return m
	}
	if d := cmp.Diff(map[string]int64{"kettle": 1, "mug": 2}, lines(want)); d != "" {
		t.Fatalf("first device's cart (-want +got):\n%s", d)
	}
	if d := cmp.Diff(lines(want), lines(got)); d != "" {
		t.Errorf("restored cart (-first device +restored):\n%s", d)
	}
	var rows int
	other.Eval(`document.querySelectorAll("#cart tbody tr").length`, &rows)
	if rows != 2 {
		t.Errorf("the restored cart page shows %d lines, want 2", rows)
	}
}
