package app

import (
	"context"
	"encoding/base64"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/demo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/web"
)

// startProxyMain runs Main with the proxy on, the outbox delivering to the
// strict fake Klaviyo (through the client Main builds from the private
// key and URL), and klaviyo.js served by a local upstream.
func startProxyMain(t *testing.T) (*Main, *klaviyotest.Server) {
	t.Helper()
	return startProxyMainEnv(t, nil)
}

// startProxyMainEnv is startProxyMain with extra settings.
func startProxyMainEnv(t *testing.T, extra map[string]string) (*Main, *klaviyotest.Server) {
	t.Helper()
	fake := klaviyotest.NewServer(t)
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/onsite/js/"+klaviyotest.CompanyID+"/klaviyo.js" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/javascript")
		io.WriteString(w, "window.__klaviyoFromUpstream = true;")
	}))
	t.Cleanup(static.Close)
	env := map[string]string{
		"SNIPPETD_PROXY":              "on",
		"SNIPPETD_ALLOWED_ORIGINS":    "https://shop.example",
		"SNIPPETD_PUBLIC_KEY":         klaviyotest.CompanyID,
		"SNIPPETD_PRIVATE_KEY":        klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL":        fake.URL,
		"SNIPPETD_KLAVIYO_STATIC_URL": static.URL,
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m, fake
}

// TestProxyThroughOutboxToKlaviyo posts a browser event to the proxy and
// waits for the fake Klaviyo to receive it with the cookie's exchange id.
func TestProxyThroughOutboxToKlaviyo(t *testing.T) {
	m, fake := startProxyMain(t)
	kla := base64.StdEncoding.EncodeToString([]byte(`{"cid":"x","$exchange_id":"Ab9x_k.` + klaviyotest.CompanyID + `"}`))
	req, _ := http.NewRequest("POST", m.Server.URL()+"/s/e", strings.NewReader(`{"events":[{"metric":"Viewed Product","properties":{"ProductName":"Mug"},"unique_id":"vp-1"}]}`))
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.AddCookie(&http.Cookie{Name: "__kla_id", Value: kla})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(20 * time.Second); len(fake.Events()) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the fake received nothing; requests: %+v", fake.Requests())
		}
	}
	got := fake.Events()
	if len(got) != 1 || got[0].Metric != "Viewed Product" || got[0].Profile["_kx"] != "Ab9x_k."+klaviyotest.CompanyID || got[0].UniqueID != "vp-1" {
		t.Errorf("fake received %+v", got)
	}

	// A refused request, then both show in GET /metrics.
	req, _ = http.NewRequest("POST", m.Server.URL()+"/s/e", strings.NewReader(`{"events":[{"metric":"Placed Order"}]}`))
	req.Header.Set("Origin", "https://shop.example")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	resp, err = http.Get(m.Server.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`snippetd_browser_events_accepted_total{source="proxy"} 1`,
		`snippetd_browser_events_rejected_total{reason="forbidden_metric",source="proxy"} 1`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// TestLoaderUsesProxy checks that the render API's loader takes klaviyo.js
// from the proxy when the proxy is on.
func TestLoaderUsesProxy(t *testing.T) {
	m, _ := startProxyMain(t)
	resp, err := http.Post(m.Server.URL()+"/v1/render/loader", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `src="/s/k.js"`) || strings.Contains(string(body), "static.klaviyo.com") {
		t.Errorf("loader: %d %s", resp.StatusCode, body)
	}
	// With the helper, it is the proxy build posting to the proxy.
	resp, err = http.Post(m.Server.URL()+"/v1/render/loader", "application/json", strings.NewReader(`{"helper":true}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	h, err := web.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	// The helper loads klaviyo.js itself (so that it sees it fail and sends
	// Active on Site), from the proxy.
	for _, want := range []string{`data-proxy="/s/"`, h.Get(web.Features{Proxy: true}).Path, `data-klaviyo="/s/k.js"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("loader with helper lacks %s: %s", want, body)
		}
	}
}

// TestPrivateKeyInNoResponse sends every kind of proxy request, good and
// bad, and checks that no response header or body carries the private key.
func TestPrivateKeyInNoResponse(t *testing.T) {
	m, _ := startProxyMain(t)
	privateKeyInNoResponse(t, m.Server.URL())
}

func privateKeyInNoResponse(t *testing.T, base string) {
	t.Helper()
	reqs := []struct{ method, path, origin, ctype, body string }{
		{"POST", "/s/e", "https://shop.example", "application/json", `{"events":[{"metric":"Viewed Product"}],"profile":{"email":"a@b.co"}}`},
		{"POST", "/s/e", "https://shop.example", "application/json", `{"events":[{"metric":"Placed Order"}]}`},
		{"POST", "/s/e", "https://evil.example", "application/json", `{}`},
		{"POST", "/s/e", "https://shop.example", "application/xml", `<x/>`},
		{"POST", "/s/e", "https://shop.example", "text/plain", `{"events":`},
		{"POST", "/s/i", "https://shop.example", "text/plain", `{"email":"a@b.co","first_name":"A"}`},
		{"POST", "/s/i", "https://shop.example", "text/plain", `{"first_name":"A"}`},
		{"OPTIONS", "/s/e", "https://shop.example", "", ""},
		{"POST", "/s/forget", "https://shop.example", "", ""},
		{"GET", "/s/k.js", "", "", ""},
		{"GET", "/s/k.js?key=" + klaviyotest.PrivateKey, "", "", ""},
		{"GET", "/s/e", "", "", ""},
		{"GET", "/healthz", "", "", ""},
		{"GET", "/readyz", "", "", ""},
	}
	for _, r := range reqs {
		req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
		if r.origin != "" {
			req.Header.Set("Origin", r.origin)
		}
		if r.ctype != "" {
			req.Header.Set("Content-Type", r.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var hdr strings.Builder
		resp.Header.Write(&hdr)
		if strings.Contains(string(body), klaviyotest.PrivateKey) || strings.Contains(hdr.String(), klaviyotest.PrivateKey) {
			t.Errorf("%s %s (%d) leaks the private key", r.method, r.path, resp.StatusCode)
		}
		if r.path == "/s/k.js" && (resp.StatusCode != 200 || !strings.Contains(string(body), "__klaviyoFromUpstream")) {
			t.Errorf("k.js: %d %q", resp.StatusCode, body)
		}
	}
}

// TestIdentifyReachesKlaviyo posts an identify and waits for the fake to
// receive the profile update (Active on Site carrying the attributes).
func TestIdentifyReachesKlaviyo(t *testing.T) {
	m, fake := startProxyMain(t)
	req, _ := http.NewRequest("POST", m.Server.URL()+"/s/i", strings.NewReader(`{"email":"Ana@Example.com","first_name":"Ana","last_name":"Lee","consent":true}`))
	req.Header.Set("Origin", "https://shop.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(20 * time.Second); len(fake.Events()) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the fake received nothing; requests: %+v", fake.Requests())
		}
	}
	e := fake.Events()[0]
	if e.Metric != "Active on Site" || e.Profile["email"] != "ana@example.com" || e.Profile["first_name"] != "Ana" || e.Profile["last_name"] != "Lee" || e.Profile["_kx"] != nil {
		t.Errorf("fake received %+v", e)
	}
}

// TestLocalSinkServesStandInScript: in local-sink mode nothing leaves the
// machine, klaviyo.js included: the proxy's k.js is the demo's stand-in and
// Klaviyo's CDN is never asked, at start-up or per request.
func TestLocalSinkServesStandInScript(t *testing.T) {
	var hits atomic.Int64
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "window.__klaviyoFromUpstream = true;")
	}))
	t.Cleanup(cdn.Close)
	m, _ := startProxyMainEnv(t, map[string]string{"SNIPPETD_PRIVATE_KEY": "", "SNIPPETD_KLAVIYO_STATIC_URL": cdn.URL})
	if m.Sink == nil {
		t.Fatal("not in local-sink mode")
	}
	want, err := fs.ReadFile(demo.Static, "static/klaviyo.js")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(m.Server.URL() + "/s/k.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(want) {
		t.Errorf("k.js in local-sink mode: %d, %d bytes; want the %d-byte stand-in", resp.StatusCode, len(body), len(want))
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("Klaviyo's CDN was asked %d times in local-sink mode", n)
	}
}
