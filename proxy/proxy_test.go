package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/mux"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/shop"
)

// moneyEq compares shop.Money values (their fields are unexported).
var moneyEq = cmp.Comparer(func(a, b shop.Money) bool { return a == b })

// recorder stands in for the outbox in handler tests: it keeps what was
// enqueued and can be told to fail. (The end-to-end tests use the real
// outbox.)
type recorder struct {
	mu     sync.Mutex
	events []klaviyo.Event
	err    error
}

func (r *recorder) Enqueue(ctx context.Context, events []klaviyo.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.events = append(r.events, events...)
	return nil
}

func (r *recorder) take() []klaviyo.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

const shopOrigin = "https://shop.example"

type harness struct {
	p   *Proxy
	out *recorder
	h   http.Handler
	d   *db.DB
}

// fresh opens another Store on the harness's database: its Get reads
// what was written, not this proxy's cache.
func (h *harness) fresh(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), h.d, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	return newHarnessOn(t, openTestDBs(t)["sqlite"], opts)
}

func newHarnessOn(t *testing.T, d *db.DB, opts Options) *harness {
	t.Helper()
	store, err := OpenStore(context.Background(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if opts.AllowedOrigins == nil {
		opts.AllowedOrigins = []string{shopOrigin}
	}
	out := &recorder{}
	p := New(opts, store, out, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return &harness{p: p, out: out, h: router(p), d: d}
}

// router mounts p on a router of its own, answering unknown paths and
// methods through the error funnel as the server does.
func router(p *Proxy) *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = httpx.NotFound(nil)
	r.MethodNotAllowedHandler = httpx.MethodNotAllowed(nil)
	p.Routes(r)
	return r
}

type req struct {
	method, path, body, ctype string
	headers                   map[string]string
	cookies                   []*http.Cookie
	remote                    string
}

func (h *harness) do(r req) *httptest.ResponseRecorder {
	if r.method == "" {
		r.method = "POST"
	}
	hr := httptest.NewRequest(r.method, "http://snippetd.internal"+r.path, strings.NewReader(r.body))
	hr.RemoteAddr = "203.0.113.7:5555"
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	if r.ctype == "" {
		r.ctype = "text/plain;charset=UTF-8"
	}
	hr.Header.Set("Content-Type", r.ctype)
	hr.Header.Set("Origin", shopOrigin)
	for k, v := range r.headers {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	for _, c := range r.cookies {
		hr.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, hr)
	return w
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b httpx.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", w.Body.String(), err)
	}
	return b.Error.Code
}

func kxCookie(kx string) *http.Cookie {
	return &http.Cookie{Name: KlaviyoCookie, Value: klaCookieValue(`{"cid":"x","$exchange_id":"` + kx + `"}`)}
}

const viewed = `{"events":[{"metric":"Viewed Product","properties":{"ProductName":"Mug"},"unique_id":"vp-1"}]}`

func TestEventsAccepted(t *testing.T) {
	h := newHarness(t, Options{})
	w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := strings.TrimSpace(w.Body.String()); got != `{"accepted":1,"dropped":0}` {
		t.Errorf("body %s", got)
	}
	if w.Header().Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Errorf("CORS origin %q", w.Header().Get("Access-Control-Allow-Origin"))
	}
	var bid *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == BrowserCookie {
			bid = c
		}
	}
	if bid == nil || !bid.HttpOnly || bid.SameSite != http.SameSiteLaxMode || bid.Path != "/s/" || bid.Secure || !validBrowserID(bid.Value) {
		t.Fatalf("browser cookie %+v", bid)
	}
	got := h.out.take()
	want := []klaviyo.Event{{
		Metric:     "Viewed Product",
		Profile:    klaviyo.Profile{Kx: "Ab9x.ABC123", Location: &klaviyo.Location{IP: "203.0.113.7"}},
		Properties: json.RawMessage(`{"ProductName":"Mug"}`),
		UniqueID:   "vp-1",
	}}
	if len(got) == 1 {
		want[0].Time = got[0].Time
		if time.Since(got[0].Time) > time.Minute {
			t.Errorf("time %v is not the receive time", got[0].Time)
		}
	}
	if d := cmp.Diff(want, got, moneyEq); d != "" {
		t.Errorf("enqueued (-want +got):\n%s", d)
	}

	// The first request stored nothing: everything it knew came from
	// __kla_id, which the browser sends again. The next request, carrying
	// both cookies, shows the browser keeps sd_bid, and stores the kx.
	h.p.store.flush()
	if _, ok, err := h.fresh(t).Get(context.Background(), bid.Value); ok || err != nil {
		t.Fatalf("first contact stored an identity: %v %v", ok, err)
	}
	w = h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{bid, kxCookie("Ab9x.ABC123")}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	h.out.take()
	h.p.store.flush()
	if got, ok, err := h.fresh(t).Get(context.Background(), bid.Value); !ok || err != nil || got.Kx != "Ab9x.ABC123" {
		t.Fatalf("returning browser's identity %+v %v %v", got, ok, err)
	}

	// The next request carries only the proxy's cookie: the stored kx
	// identifies it although __kla_id is gone (Safari capped it).
	w = h.do(req{path: "/s/e", body: `{"events":[{"metric":"Added to Cart","value":3.5}]}`, ctype: "application/json", cookies: []*http.Cookie{bid}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got = h.out.take()
	if len(got) != 1 || got[0].Profile.Kx != "Ab9x.ABC123" || got[0].Value.String() != "3.5" || !strings.HasPrefix(got[0].UniqueID, "sd-") {
		t.Errorf("second event %+v", got)
	}
}

func TestIdentifyThenEvents(t *testing.T) {
	for name, d := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) { testIdentifyThenEvents(t, newHarnessOn(t, d, Options{})) })
	}
}

func testIdentifyThenEvents(t *testing.T, h *harness) {
	w := h.do(req{path: "/s/i", body: `{"email":"ana@example.com","first_name":"Ana"}`, cookies: []*http.Cookie{kxCookie("k.ABC123")}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("identify: %d %s", w.Code, w.Body)
	}
	bid := w.Result().Cookies()[0]
	upd := h.out.take()
	if len(upd) != 1 || upd[0].Metric != IdentifyMetric || upd[0].Profile.Email != "ana@example.com" || upd[0].Profile.FirstName != "Ana" || upd[0].Profile.Kx != "" {
		t.Fatalf("profile update %+v", upd)
	}
	// The same identify again sends the same update, with the same
	// unique_id, so Klaviyo keeps one.
	h.do(req{path: "/s/i", body: `{"email":"ana@example.com","first_name":"Ana"}`, cookies: []*http.Cookie{bid, kxCookie("k.ABC123")}})
	if got := h.out.take(); len(got) != 1 || got[0].UniqueID != upd[0].UniqueID {
		t.Errorf("repeated identify sent %+v, want the same unique_id %s", got, upd[0].UniqueID)
	}
	w = h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{bid, kxCookie("k.ABC123")}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("events: %d %s", w.Code, w.Body)
	}
	got := h.out.take()
	if len(got) != 1 || got[0].Profile.Email != "ana@example.com" || got[0].Profile.Kx != "" {
		t.Errorf("event profile %+v", got)
	}
	// Another email in an event's profile is refused.
	w = h.do(req{path: "/s/e", body: `{"events":[{"metric":"Viewed Product"}],"profile":{"email":"eve@example.com"}}`, cookies: []*http.Cookie{bid}})
	if w.Code != http.StatusUnprocessableEntity || errorCode(t, w) != "invalid" || !strings.Contains(w.Body.String(), `"field":"profile.email"`) {
		t.Errorf("email override: %d %s", w.Code, w.Body)
	}
	if n := len(h.out.take()); n != 0 {
		t.Errorf("%d events enqueued by a refused request", n)
	}
}

func TestRejections(t *testing.T) {
	tests := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"forbidden metric", req{path: "/s/e", body: `{"events":[{"metric":"Placed Order","value":100}]}`}, 422, "invalid"},
		{"backfill", req{path: "/s/e", body: `{"events":[{"metric":"Viewed Product","backfill":true}]}`}, 422, "invalid"},
		{"bad origin", req{path: "/s/e", body: viewed, headers: map[string]string{"Origin": "https://evil.example"}}, 403, "forbidden"},
		{"bad referer", req{path: "/s/e", body: viewed, headers: map[string]string{"Origin": "", "Referer": "https://evil.example/x"}}, 403, "forbidden"},
		{"no origin", req{path: "/s/e", body: viewed, headers: map[string]string{"Origin": ""}}, 403, "forbidden"},
		{"oversized body", req{path: "/s/e", body: `{"events":[{"metric":"Viewed Product","properties":{"x":"` + strings.Repeat("a", 70_000) + `"}}]}`}, 413, "too_large"},
		{"malformed JSON", req{path: "/s/e", body: `{"events":[{"metric":`}, 400, "bad_request"},
		{"wrong content type", req{path: "/s/e", body: viewed, ctype: "application/x-www-form-urlencoded"}, 415, "unsupported"},
		{"identify malformed", req{path: "/s/i", body: `{`}, 400, "bad_request"},
		{"identify no identifier", req{path: "/s/i", body: `{"first_name":"A"}`}, 422, "invalid"},
		{"identify bad origin", req{path: "/s/i", body: `{"email":"a@b.co"}`, headers: map[string]string{"Origin": "http://shop.example"}}, 403, "forbidden"},
		{"GET events", req{method: "GET", path: "/s/e"}, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			w := h.do(tt.r)
			if w.Code != tt.status || errorCode(t, w) != tt.code {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.code)
			}
			if w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", w.Header().Get("Content-Type"))
			}
			if n := len(h.out.take()); n != 0 {
				t.Errorf("%d events enqueued by a rejected request", n)
			}
			if tt.status == 403 && w.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Error("CORS headers on a refused origin")
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, Options{Rate: 1, Burst: 3})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.p.now = func() time.Time { return now }
	c := kxCookie("k.ABC123")
	for i := range 3 {
		if w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{c}}); w.Code != 202 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{c}})
	if w.Code != 429 || errorCode(t, w) != "rate_limited" || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("4th request: %d %s Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	// Another client is not affected; the first recovers after a second.
	if w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{c}, remote: "198.51.100.1:1"}); w.Code != 202 {
		t.Errorf("other client: %d", w.Code)
	}
	now = now.Add(time.Second)
	if w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{c}}); w.Code != 202 {
		t.Errorf("after the wait: %d %s", w.Code, w.Body)
	}
	// X-Forwarded-For from an untrusted peer does not open a new bucket.
	for range 5 {
		h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{c}, headers: map[string]string{"X-Forwarded-For": "192.0.2.99"}})
	}
	if w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{c}, headers: map[string]string{"X-Forwarded-For": "192.0.2.100"}}); w.Code != 429 {
		t.Errorf("spoofed X-Forwarded-For escaped the limit: %d", w.Code)
	}
}

func TestTrustedProxy(t *testing.T) {
	h := newHarness(t, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{kxCookie("k.ABC123")}, remote: "10.1.2.3:80",
		headers: map[string]string{"X-Forwarded-For": "1.1.1.1, 198.51.100.9, 10.9.9.9", "X-Forwarded-Proto": "https"}})
	if w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	got := h.out.take()
	if len(got) != 1 || got[0].Profile.Location.IP != "198.51.100.9" {
		t.Errorf("location ip %+v", got[0].Profile.Location)
	}
	if c := w.Result().Cookies(); len(c) != 1 || !c[0].Secure {
		t.Errorf("cookie behind an https proxy is not Secure: %+v", c)
	}
}

func TestConsentAndAnonymous(t *testing.T) {
	h := newHarness(t, Options{RequireConsent: true})
	c := kxCookie("k.ABC123")
	w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{c}})
	if w.Code != 202 || strings.TrimSpace(w.Body.String()) != `{"accepted":0,"dropped":1,"reason":"consent"}` {
		t.Errorf("without consent: %d %s", w.Code, w.Body)
	}
	w = h.do(req{path: "/s/i", body: `{"email":"a@b.co"}`, cookies: []*http.Cookie{c}})
	if w.Code != 202 || !strings.Contains(w.Body.String(), `"reason":"consent"`) {
		t.Errorf("identify without consent: %d %s", w.Code, w.Body)
	}
	if n := len(h.out.take()); n != 0 || h.p.Stats.DroppedConsent.Load() != 2 {
		t.Errorf("enqueued %d, counted %d", n, h.p.Stats.DroppedConsent.Load())
	}
	w = h.do(req{path: "/s/e", body: strings.Replace(viewed, `]}`, `],"consent":true}`, 1), cookies: []*http.Cookie{c}})
	if w.Code != 202 || len(h.out.take()) != 1 {
		t.Errorf("with consent: %d %s", w.Code, w.Body)
	}

	// No identifier: dropped by default, kept with anonymous_id when asked.
	w = h.do(req{path: "/s/e", body: strings.Replace(viewed, `]}`, `],"consent":true}`, 1)})
	if w.Code != 202 || !strings.Contains(w.Body.String(), `"reason":"anonymous"`) || len(h.out.take()) != 0 {
		t.Errorf("anonymous: %d %s", w.Code, w.Body)
	}
	k := newHarness(t, Options{KeepAnonymous: true})
	w = k.do(req{path: "/s/e", body: viewed})
	got := k.out.take()
	if w.Code != 202 || len(got) != 1 || got[0].Profile.AnonymousID != k.p.store.AnonymousID(w.Result().Cookies()[0].Value) {
		t.Errorf("kept anonymous: %d %+v", w.Code, got)
	}
}

func TestEnqueueFailure(t *testing.T) {
	h := newHarness(t, Options{})
	h.out.err = errors.New("disk full at /secret/path")
	w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{kxCookie("k.ABC123")}})
	if w.Code != 503 || errorCode(t, w) != "unavailable" || strings.Contains(w.Body.String(), "secret") || w.Header().Get("Retry-After") == "" {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

func TestPreflight(t *testing.T) {
	h := newHarness(t, Options{})
	w := h.do(req{method: "OPTIONS", path: "/s/e"})
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != shopOrigin || w.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("%d %v", w.Code, w.Header())
	}
	w = h.do(req{method: "OPTIONS", path: "/s/e", headers: map[string]string{"Origin": "https://evil.example"}})
	if w.Code != 403 {
		t.Errorf("evil preflight: %d", w.Code)
	}
}

func TestForget(t *testing.T) {
	h := newHarness(t, Options{})
	w := h.do(req{path: "/s/i", body: `{"email":"ana@example.com"}`})
	bid := w.Result().Cookies()[0]
	h.out.take()
	if _, ok, _ := h.p.store.Get(context.Background(), bid.Value); !ok {
		t.Fatal("identify not stored")
	}
	w = h.do(req{path: "/s/forget", cookies: []*http.Cookie{bid}})
	if w.Code != 204 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if c := w.Result().Cookies(); len(c) != 1 || c[0].Name != BrowserCookie || c[0].MaxAge != -1 || !c[0].HttpOnly {
		t.Errorf("cookie not expired: %+v", c)
	}
	if _, ok, _ := h.p.store.Get(context.Background(), bid.Value); ok {
		t.Error("identity still stored after forget")
	}
	// Later events from that browser id carry nothing remembered.
	w = h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{bid}})
	if w.Code != 202 || !strings.Contains(w.Body.String(), `"reason":"anonymous"`) || len(h.out.take()) != 0 {
		t.Errorf("after forget: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{path: "/s/forget", headers: map[string]string{"Origin": "https://evil.example"}}); w.Code != 403 {
		t.Errorf("forget from another origin: %d", w.Code)
	}
}

// With the database gone, requests that need it get 503 with Retry-After,
// never a 500 or a 202 for something not stored.
func TestStoreUnavailable(t *testing.T) {
	h := newHarness(t, Options{})
	bid := &http.Cookie{Name: BrowserCookie, Value: newBrowserID()}
	h.p.store.db.Close()
	for _, r := range []req{
		{path: "/s/e", body: viewed, cookies: []*http.Cookie{bid}},
		{path: "/s/i", body: `{"email":"a@b.co"}`},
	} {
		w := h.do(r)
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || errorCode(t, w) != "unavailable" {
			t.Errorf("%s: %d %s", r.path, w.Code, w.Body)
		}
	}
}

// TestFirstContactWritesOnlyWhatCookiesDoNotCarry: a client that never
// returns the sd_bid cookie (a bot, a load tool) costs no identity row per
// request when all it knows comes from __kla_id, while a first request
// carrying a landing _kx — which no cookie repeats — is stored at once.
func TestFirstContactWritesOnlyWhatCookiesDoNotCarry(t *testing.T) {
	h := newHarness(t, Options{Rate: 1000, Burst: 1000})
	for range 20 {
		if w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}}); w.Code != http.StatusAccepted {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	if got := len(h.out.take()); got != 20 {
		t.Fatalf("enqueued %d events, want 20", got)
	}
	count := func() (n int) {
		h.p.store.flush()
		if err := h.d.QueryRow(`SELECT COUNT(*) FROM proxy_browsers`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("%d identity rows for cookie-less requests, want 0", n)
	}
	w := h.do(req{path: "/s/e", body: viewed, headers: map[string]string{"Referer": shopOrigin + "/p/mug?_kx=Land1.ABC123"}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var bid string
	for _, c := range w.Result().Cookies() {
		if c.Name == BrowserCookie {
			bid = c.Value
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("%d identity rows after a landing _kx, want 1", n)
	}
	if got, ok, err := h.fresh(t).Get(context.Background(), bid); !ok || err != nil || got.Kx != "Land1.ABC123" {
		t.Fatalf("landing identity %+v %v %v", got, ok, err)
	}
}

// TestClientGoneIsNotAnError: a client that disconnects while its events
// wait for the commit is not logged as a storage error (it flooded the
// log each time a load test stopped); a real storage failure still is.
func TestClientGoneIsNotAnError(t *testing.T) {
	for _, gone := range []bool{true, false} {
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		ctx, cancel := context.WithCancel(context.Background())
		out := EnqueueFunc(func(c context.Context, _ []klaviyo.Event) error {
			if gone {
				cancel()
				<-c.Done()
				return c.Err()
			}
			return errors.New("disk full")
		})
		d := openTestDBs(t)["sqlite"]
		store, err := OpenStore(context.Background(), d, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := New(Options{AllowedOrigins: []string{shopOrigin}}, store, out, nil, logger)
		s := router(p)
		r := httptest.NewRequestWithContext(ctx, "POST", "/s/e", strings.NewReader(viewed))
		r.Header.Set("Origin", shopOrigin)
		r.Header.Set("Content-Type", "text/plain")
		r.AddCookie(kxCookie("Ab9x.ABC123"))
		s.ServeHTTP(httptest.NewRecorder(), r)
		store.Close()
		cancel()
		hasError := strings.Contains(logs.String(), "level=ERROR")
		if gone && hasError {
			t.Errorf("client gone logged as an error:\n%s", logs.String())
		}
		if !gone && !hasError {
			t.Errorf("storage failure not logged as an error:\n%s", logs.String())
		}
	}
}

// TestOriginForms holds the allow-list to NormalizeOrigin's reading of
// every Origin header, the verbatim shortcut included: an allowed origin
// that does not normalize to itself (an IPv6 zone, which url.Parse wants
// escaped) must not be let in by that shortcut.
func TestOriginForms(t *testing.T) {
	allowed := []string{shopOrigin, "http://shop.example:8080", "http://[fe80::1%25en0]", "http://[::1]:8080"}
	tests := []struct {
		origin string
		status int
	}{
		{"https://shop.example", 202},
		{"HTTPS://Shop.Example", 202},
		{"https://shop.example:443", 202},
		{" https://shop.example ", 202},
		{"https://shop.example/p/mug", 202},
		{"http://shop.example:8080", 202},
		{"http://shop.example", 403},
		{"http://[::1]:8080", 202},
		{"http://[fe80::1%25en0]", 202},
		{"http://[fe80::1%en0]", 403}, // what the allow-list holds, but NormalizeOrigin refuses it
		{"https://shop.example.evil", 403},
		{"null", 403},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.origin, "%", "pct"), func(t *testing.T) { // '%' would be in a temp dir name
			h := newHarness(t, Options{AllowedOrigins: allowed})
			w := h.do(req{path: "/s/e", body: viewed, headers: map[string]string{"Origin": tt.origin}, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}})
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if got, want := w.Header().Get("Access-Control-Allow-Origin"), NormalizeOrigin(tt.origin); tt.status == 202 && got != want {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, want)
			}
		})
	}
}

// TestBrowserCookieHeader holds the Set-Cookie header a new browser gets
// to what http.SetCookie writes for the same cookie.
func TestBrowserCookieHeader(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, prefix, remote, proto string
		secure                      bool
	}{
		{"http", "", "203.0.113.7:5555", "", false},
		{"https behind a trusted proxy", "", "10.0.0.2:5555", "https", true},
		{"https from an untrusted proxy", "", "203.0.113.7:5555", "https", false},
		{"another prefix", "/t/x/", "10.0.0.2:5555", "https", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Prefix: tt.prefix, TrustedProxies: trusted})
			path := orDefault(tt.prefix, "/s/") + "e"
			w := h.do(req{path: path, body: viewed, remote: tt.remote, headers: map[string]string{"X-Forwarded-Proto": tt.proto}, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}})
			if w.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			got := w.Header().Values("Set-Cookie")
			if len(got) != 1 {
				t.Fatalf("Set-Cookie %q", got)
			}
			c, err := http.ParseSetCookie(got[0])
			if err != nil {
				t.Fatal(err)
			}
			want := httptest.NewRecorder()
			http.SetCookie(want, &http.Cookie{
				Name:     BrowserCookie,
				Value:    c.Value,
				Path:     orDefault(tt.prefix, "/s/"),
				MaxAge:   400 * 24 * 3600,
				HttpOnly: true,
				Secure:   tt.secure,
				SameSite: http.SameSiteLaxMode,
			})
			if d := cmp.Diff(want.Header().Values("Set-Cookie"), got); d != "" || !validBrowserID(c.Value) {
				t.Errorf("Set-Cookie (-want +got):\n%s", d)
			}
			// The id the request's events carry is the keyed hash of the cookie's.
			h.p.opts.KeepAnonymous = true
			if w := h.do(req{path: path, body: viewed, remote: tt.remote}); w.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			} else if c, err := http.ParseSetCookie(w.Header().Get("Set-Cookie")); err != nil {
				t.Fatal(err)
			} else if ev := h.out.take(); len(ev) != 2 || ev[1].Profile.AnonymousID != h.p.store.AnonymousID(c.Value) {
				t.Errorf("anonymous id %q, cookie %q", ev[len(ev)-1].Profile.AnonymousID, c.Value)
			}
		})
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestEventsInputFormOverHTTP posts input-form events (what the helper's
// proxy build sends) through the handler: what is enqueued, or the error
// answered, is what the validator decodes from the same body.
func TestEventsInputFormOverHTTP(t *testing.T) {
	product := `{"id":"p1","sku":"M-1","name":"Mug","url":"https://shop.example/p/mug","price":12.5,"variants":[{"id":7}]}`
	cart := `{"id":"c1","items":[{"product":` + product + `,"quantity":2}]}`
	tests := []struct {
		name, events string
		status       int
	}{
		{"viewed product", `{"metric":"Viewed Product","unique_id":"vp-1","product":` + product + `}`, 202},
		{"added to cart", `{"metric":"Added to Cart","cart":` + cart + `,"added":{"product":` + product + `,"quantity":1}}`, 202},
		{"started checkout", `{"metric":"Started Checkout","cart":` + cart + `,"time":"2026-11-27T11:59:30Z"}`, 202},
		{"null members", `{"metric":"Viewed Product","product":` + product + `,"cart":null,"properties":null}`, 202},
		{"two events", `{"metric":"Viewed Product","product":` + product + `},{"metric":"Started Checkout","cart":` + cart + `}`, 202},
		{"bad price", `{"metric":"Viewed Product","product":{"id":"p1","name":"Mug","price":"12.5"}}`, 400},
		{"bad price, forbidden metric first", `{"metric":"Placed Order","product":{"id":"p1","name":"Mug","price":"12.5"}}`, 422},
		{"bad input of a later event", `{"metric":"Viewed Product","product":` + product + `},{"metric":"Added to Cart","cart":` + cart + `,"added":{"quantity":"1"}}`, 400},
		{"input the metric does not take", `{"metric":"Viewed Product","product":` + product + `,"added":{"quantity":"x"}}`, 422},
		{"missing input", `{"metric":"Added to Cart","cart":` + cart + `}`, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			h.p.now = func() time.Time { return now }
			body := `{"events":[` + tt.events + `]}`
			want, wantErr := h.p.validator.DecodeBatch([]byte(body), now)
			w := h.do(req{path: "/s/e", body: body, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}})
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			got := h.out.take()
			if wantErr != nil {
				var b httpx.ErrorBody
				if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
					t.Fatal(err)
				}
				if b.Error.Field != apperr.ErrorField(wantErr) || b.Error.Message != apperr.ErrorMessage(wantErr) {
					t.Errorf("error %s %q, validator %s %q", b.Error.Field, b.Error.Message, apperr.ErrorField(wantErr), apperr.ErrorMessage(wantErr))
				}
				if len(got) != 0 {
					t.Errorf("%d events enqueued", len(got))
				}
				return
			}
			if len(got) != len(want.Events) {
				t.Fatalf("%d events enqueued, validator %d", len(got), len(want.Events))
			}
			for i, e := range want.Events {
				g := got[i]
				if g.Metric != e.Metric || string(g.Properties) != string(e.Properties) || g.Value != e.Value || !g.Time.Equal(e.Time) ||
					(e.UniqueID != "" && g.UniqueID != e.UniqueID) {
					t.Errorf("event %d: %s %s %v %v %q, validator %s %s %v %v %q", i, g.Metric, g.Properties, g.Value, g.Time, g.UniqueID, e.Metric, e.Properties, e.Value, e.Time, e.UniqueID)
				}
			}
		})
	}
}

// TestEventsContentTypes holds the Content-Types a batch may come with to
// ReadBody's check (mime.ParseMediaType), the ones readBody passes
// without it included.
func TestEventsContentTypes(t *testing.T) {
	tests := []struct {
		ctype  string
		status int
	}{
		{"text/plain;charset=UTF-8", 202},
		{"text/plain", 202},
		{"application/json", 202},
		{"text/plain; charset=utf-8", 202},
		{"Text/Plain", 202},
		{"application/json; charset=utf-8", 202},
		{"text/plain;charset=UTF-8;charset=latin1", 415}, // a parameter given twice: ParseMediaType refuses it
		{"text/plain;", 202},
		{"text/html", 415},
		{"application/x-www-form-urlencoded", 415},
		{"text/plain ;charset", 415},
	}
	for _, tt := range tests {
		t.Run(tt.ctype, func(t *testing.T) {
			h := newHarness(t, Options{})
			w := h.do(req{path: "/s/e", body: viewed, ctype: tt.ctype, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}})
			if w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
		})
	}
}

// TestEventsClientAddress checks the location an event carries is the
// client's address as netip writes it, IPv4, IPv6 and IPv4-mapped.
func TestEventsClientAddress(t *testing.T) {
	for _, remote := range []string{"203.0.113.7:5555", "[2001:db8::7]:5555", "[::ffff:203.0.113.9]:1", "[2001:db8:0:0:1::]:80"} {
		t.Run(remote, func(t *testing.T) {
			h := newHarness(t, Options{})
			w := h.do(req{path: "/s/e", body: viewed, remote: remote, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")}})
			if w.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			want := netip.MustParseAddrPort(remote).Addr().Unmap().String()
			if ev := h.out.take(); len(ev) != 1 || ev[0].Profile.Location == nil || ev[0].Profile.Location.IP != want {
				t.Errorf("events %+v, want location %s", ev, want)
			}
		})
	}
}

// TestCookieLines checks sd_bid and __kla_id are read as r.Cookie reads
// them, over Cookie headers that hold the names in other places, quoted
// values and several lines.
func TestCookieLines(t *testing.T) {
	id := newBrowserID()
	kla := kxCookie("Ab9x.ABC123").Value
	for _, lines := range [][]string{
		nil,
		{"a=1"},
		{"x_sd_bid=" + id},
		{"a=sd_bid"},
		{"sd_bid=" + id},
		{`sd_bid="` + id + `"`},
		{"a=1", "sd_bid=" + id + "; __kla_id=" + kla},
		{"__kla_id=" + kla},
		{"x__kla_id=" + kla},
		{" __kla_id = " + kla + " ;sd_bid=" + id},
		{"sd_bid=" + id + "x"},
	} {
		t.Run(strings.Join(lines, "|"), func(t *testing.T) {
			h := newHarness(t, Options{KeepAnonymous: true})
			r := httptest.NewRequest("POST", "http://snippetd.internal/s/e", strings.NewReader(viewed))
			r.RemoteAddr = "203.0.113.7:5555"
			r.Header.Set("Content-Type", "text/plain")
			r.Header.Set("Origin", shopOrigin)
			for _, l := range lines {
				r.Header.Add("Cookie", l)
			}
			c, err := r.Cookie(BrowserCookie)
			wantNew := err != nil || !validBrowserID(c.Value)
			wantKx := ""
			if c, err := r.Cookie(KlaviyoCookie); err == nil {
				wantKx, _ = parseKlaID(c.Value)
			}
			w := httptest.NewRecorder()
			h.h.ServeHTTP(w, r)
			if w.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if gotNew := w.Header().Get("Set-Cookie") != ""; gotNew != wantNew {
				t.Errorf("new browser %v, r.Cookie says %v", gotNew, wantNew)
			}
			if ev := h.out.take(); len(ev) != 1 || ev[0].Profile.Kx != wantKx {
				t.Errorf("events %+v, want kx %q", ev, wantKx)
			}
		})
	}
}
