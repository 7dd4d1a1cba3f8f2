package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/localsink"
	"github.com/snippetd/snippetd/snippets"
	"github.com/snippetd/snippetd/web"
)

// signupForm is a newsletter form for the helper: an email, a phone and
// its SMS consent box (novalidate: the helper's own check is under test).
const signupForm = `<form id="signup" novalidate data-snippetd-subscribe='{"source":"footer"}'>` +
	`<input type="email" id="email"><input type="tel" id="phone">` +
	`<label><input type="checkbox" id="sms"> Texts too</label><button id="go">Sign up</button></form>`

// waitState waits for el's data-snippetd-state to be state.
func waitState(tab *Tab, sel, state string) {
	tab.WaitFor(`document.querySelector(` + jsString(sel) + `).dataset.snippetdState === ` + jsString(state))
}

// clientSubscriptions returns the fake's client subscriptions.
func clientSubscriptions(fake *klaviyotest.Server) []klaviyotest.SubscriptionJob {
	var out []klaviyotest.SubscriptionJob
	for _, j := range fake.SubscriptionJobs() {
		if j.Path == klaviyotest.PathClientSubscriptions {
			out = append(out, j)
		}
	}
	return out
}

// TestHelperSignupFormDirect: without the proxy, the consent build's
// signup form reaches Klaviyo's client subscription endpoint with the
// public key and the loader's list before any tracking consent (klaviyo.js
// never loads, nothing is pushed); the phone goes only with its SMS box
// ticked; an invalid email sends nothing. The checkout's offers box
// subscribes the checkout's email once, with source "checkout", while the
// checkout's identify stays held.
func TestHelperSignupFormDirect(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoServe)
	fake := klaviyotest.NewServer(t)
	fake.SetKeys(klaviyotest.PrivateKey, key)
	Klaviyo().SetAPI(t, fake)
	b := Helper(t, web.Features{Consent: true})
	o := snippets.LoaderOptions{PublicKey: key, HelperSrc: b.Path, HelperIntegrity: b.Integrity, ConsentRequired: true,
		SignupListID: "LsT123", CheckoutOffersSelector: "#offers"}
	checkout := `<div data-snippetd-checkout='{"id":"c1","items":[]}'><input type="email" id="co-email">` +
		`<label><input type="checkbox" id="offers"> Email me offers</label><button type="button" id="place">Place order</button></div>`
	// The checkout first: the offers box reads the page's first email input.
	_, tab := helperPage(t, o, checkout+signupForm)

	tab.Type("#email", "not-an-email")
	tab.Click("#go")
	waitState(tab, "#signup", "invalid")

	tab.Clear("#email")
	tab.Type("#email", " news@example.com ")
	tab.Type("#phone", "+1 (500) 555-0006")
	tab.Click("#go")
	waitState(tab, "#signup", "sent")
	subs := clientSubscriptions(fake)
	if len(subs) != 1 {
		t.Fatalf("%d client subscriptions, want 1: %+v", len(subs), subs)
	}
	if p := subs[0].Profiles[0]; subs[0].ListID != "LsT123" || subs[0].Source != "footer" || p.Email != "news@example.com" || p.PhoneNumber != "" || !p.EmailChannel || p.SMSChannel {
		t.Errorf("unticked SMS box: %+v %+v, want the email alone to LsT123 from footer", subs[0], p)
	}

	tab.Click("#sms")
	tab.Click("#go")
	waitState(tab, "#signup", "sent")
	for deadline := time.Now().Add(actionTimeout); len(clientSubscriptions(fake)) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second signup did not arrive")
		}
	}
	if p := clientSubscriptions(fake)[1].Profiles[0]; p.PhoneNumber != "+15005550006" || !p.SMSChannel || !p.EmailChannel {
		t.Errorf("ticked SMS box: %+v, want email and SMS", p)
	}

	// The offers box: the email typed, then the box ticked.
	tab.Type("#co-email", "buyer@example.com")
	tab.Click("#offers")
	tab.Click("#place") // a click elsewhere: the email input's change has fired
	for deadline := time.Now().Add(actionTimeout); len(clientSubscriptions(fake)) < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the offers box subscribed nobody")
		}
	}
	time.Sleep(300 * time.Millisecond)
	subs = clientSubscriptions(fake)
	if len(subs) != 3 || subs[2].Source != "checkout" || subs[2].ListID != "LsT123" || subs[2].Profiles[0].Email != "buyer@example.com" {
		t.Errorf("offers box: %+v, want one subscription of buyer@example.com from checkout", subs[2:])
	}

	// No tracking consent was given: klaviyo.js never loaded, nothing was
	// pushed and no event or profile request left the page.
	var pushed int
	tab.Eval(`(window._klOnsite || []).length`, &pushed)
	if n := Klaviyo().Hits(key); n != 0 || pushed != 0 {
		t.Errorf("before consent: klaviyo.js fetched %d times, %d pushes", n, pushed)
	}
	for _, r := range fake.Requests() {
		if r.Method == "POST" && r.Path != klaviyotest.PathClientSubscriptions {
			t.Errorf("before consent the page sent %s", r.Path)
		}
		if r.Path == klaviyotest.PathClientSubscriptions && r.Method == "POST" && (r.Query != "company_id="+key || r.Header.Get("Authorization") != "") {
			t.Errorf("request %s?%s with Authorization %q", r.Path, r.Query, r.Header.Get("Authorization"))
		}
	}
}

// proxyApp starts snippetd with the proxy on at /s/, delivering to the
// strict fake Klaviyo with the private key and the list AbC123, and mounts
// a test site on its origin.
func proxyApp(t *testing.T, fake *klaviyotest.Server, key string) (*app.Main, *Site) {
	t.Helper()
	if browserCtx == nil {
		t.Skipf("e2e: no browser: %v", browserErr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	env := map[string]string{
		"SNIPPETD_ADDR":              "127.0.0.1:" + port,
		"SNIPPETD_DATA_DIR":          t.TempDir(),
		"SNIPPETD_PUBLIC_KEY":        key,
		"SNIPPETD_PRIVATE_KEY":       klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL":       fake.URL,
		"SNIPPETD_LIST_ID":           "AbC123",
		"SNIPPETD_PROXY":             "on",
		"SNIPPETD_PROXY_PREFIX":      "/s/",
		"SNIPPETD_ALLOWED_ORIGINS":   "http://127.0.0.1:" + port,
		"SNIPPETD_OUTBOX_JOB_LINGER": "50ms",
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
	return m, MountSite(m.Server)
}

// TestHelperSignupFormProxy: in proxy mode the signup form posts to
// {prefix}subscribe and ends as one bulk subscription job at Klaviyo (the
// configured list, the form's source), and the back-in-stock button posts
// to {prefix}back-in-stock and reaches Klaviyo's server endpoint; the
// browser never calls Klaviyo's client endpoints.
func TestHelperSignupFormProxy(t *testing.T) {
	key := Klaviyo().Key(t, KlaviyoNotFound)
	fake := klaviyotest.NewServer(t)
	fake.SetKeys(klaviyotest.PrivateKey, key)
	Klaviyo().SetAPI(t, fake)
	_, site := proxyApp(t, fake, key)
	bis := `<form id="notify-form"><input type="email" id="bis-email">` +
		`<button type="button" id="notify" data-snippetd-back-in-stock='{"variant":"lamp-brass"}'>Notify me</button></form>`
	tab := NewTab(t)
	tab.Navigate(site.Page(t.Name(), HTML(Loader(t, snippets.LoaderOptions{PublicKey: key, ProxyEndpoint: "/s/"}), signupForm+bis)))
	tab.WaitHelper()

	tab.Type("#email", "proxy-news@example.com")
	tab.Click("#go")
	waitState(tab, "#signup", "sent")
	tab.Type("#bis-email", "lamp@example.com")
	tab.Click("#notify")
	waitState(tab, "#notify", "sent")

	var jobs []klaviyotest.SubscriptionJob
	var variants []string
	for deadline := time.Now().Add(20 * time.Second); len(jobs) == 0 || len(variants) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("at the fake: jobs %+v, back-in-stock %v", fake.SubscriptionJobs(), variants)
		}
		jobs = fake.SubscriptionJobs()
		variants = variants[:0]
		for _, r := range fake.ConsentRecords() {
			if r.Path == klaviyotest.PathBackInStock {
				variants = append(variants, r.VariantID+" "+r.Attributes["profile"].(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)["email"].(string))
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // a second job would be out by now
	jobs = fake.SubscriptionJobs()
	if len(jobs) != 1 || jobs[0].Path != klaviyotest.PathSubscribeBulk || jobs[0].ListID != "AbC123" || jobs[0].Source != "snippetd signup: footer" ||
		len(jobs[0].Profiles) != 1 || jobs[0].Profiles[0].Email != "proxy-news@example.com" {
		t.Errorf("subscription jobs %+v, want one bulk job for proxy-news@example.com", jobs)
	}
	if strings.Join(variants, ";") != "$custom:::$default:::lamp-brass lamp@example.com" {
		t.Errorf("back-in-stock requests at the fake: %q", variants)
	}
	for _, r := range fake.Requests() {
		if strings.HasPrefix(r.Path, "/client/") && r.Method == "POST" {
			t.Errorf("the browser called Klaviyo's %s", r.Path)
		}
	}
}

// TestDemoNewsletterJobInInspector: in local-sink mode the demo's
// newsletter signup is a subscription job the inspector lists, delivered
// to the local sink (which recorded the bulk subscribe request).
func TestDemoNewsletterJobInInspector(t *testing.T) {
	if browserCtx == nil {
		t.Skipf("e2e: no browser: %v", browserErr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	origin := "http://127.0.0.1:" + port
	env := map[string]string{"SNIPPETD_ADDR": "127.0.0.1:" + port, "SNIPPETD_DATA_DIR": t.TempDir(), "SNIPPETD_DEMO": "force",
		"SNIPPETD_LOG_LEVEL": "warn", "SNIPPETD_OUTBOX_JOB_LINGER": "50ms"}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	if m.Sink == nil {
		t.Fatal("no local sink without a private key")
	}

	tab := NewTab(t)
	freshCookies(t, tab)
	tab.Navigate(origin + "/demo/products/mug")
	tab.WaitHelper()
	const email = "sink-news@example.com"
	tab.Type("#newsletter-email", email)
	tab.Click("#newsletter-submit")
	tab.WaitFor(`((document.querySelector("#toast") || {}).textContent || "").startsWith("Subscribed")`)

	var job inspect.Job
	for deadline := time.Now().Add(20 * time.Second); job.State != "delivered"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the signup's job in the inspector: %+v", job)
		}
		req, _ := http.NewRequest("GET", origin+"/debug/events/jobs?kind=subscribe&profile="+email, nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Jobs []inspect.Job }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil || len(body.Jobs) > 1 {
			t.Fatalf("GET /debug/events/jobs: %s %v %+v", resp.Status, err, body.Jobs)
		}
		if len(body.Jobs) == 1 {
			job = body.Jobs[0]
		}
	}
	if job.What != "subscription" || !strings.Contains(job.Group, "Larkspur Goods newsletter") {
		t.Errorf("inspector job %+v", job)
	}
	var recorded []localsink.Request
	for _, r := range m.Sink.Requests() {
		if r.Path == klaviyotest.PathSubscribeBulk && strings.Contains(string(r.Body), email) {
			recorded = append(recorded, r)
		}
	}
	if len(recorded) != 1 || recorded[0].Status != 202 {
		t.Errorf("the sink recorded %+v, want one bulk subscribe for %s", recorded, email)
	}
}
