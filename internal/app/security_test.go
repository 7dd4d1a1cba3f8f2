package app

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// TestDemoWithKeyNeedsForce: the demo checkout places orders without the
// API token, so with a private key SNIPPETD_DEMO=on refuses to start and
// names the way out; force starts it; without a key "on" still works.
func TestDemoWithKeyNeedsForce(t *testing.T) {
	load := func(env map[string]string) error {
		_, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, func(k string) string { return env[k] }, io.Discard)
		return err
	}
	err := load(map[string]string{"SNIPPETD_PRIVATE_KEY": "pk_test", "SNIPPETD_DEMO": "on"})
	if err == nil || !strings.Contains(err.Error(), "SNIPPETD_DEMO=force") {
		t.Fatalf("demo on with a private key: %v, want a refusal naming SNIPPETD_DEMO=force", err)
	}
	if strings.Contains(err.Error(), "pk_test") {
		t.Errorf("the refusal prints the key: %v", err)
	}
	if err := load(map[string]string{"SNIPPETD_DEMO": "on"}); err != nil {
		t.Errorf("demo on without a key: %v", err)
	}
	m := openMain(t, map[string]string{"SNIPPETD_PRIVATE_KEY": "pk_test", "SNIPPETD_KLAVIYO_URL": "http://127.0.0.1:9", "SNIPPETD_DEMO": "force"})
	if m.Server.Demo == nil {
		t.Error("SNIPPETD_DEMO=force with a private key does not serve the demo")
	}
}

// heapBytes is the live heap after a full collection, from runtime/metrics.
func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// renderHeapBound and the request counts are what docs/SECURITY.md states:
// after renderRequests maximum-size renders and proxyRequests
// maximum-size proxy requests, the live heap has grown by less than this.
const (
	renderRequests   = 150
	proxyRequests    = 300
	hostileHeapBound = 48 << 20
)

// TestHostileInputsHeapBounded sends the render API and the proxy a
// stream of maximum-size hostile inputs, each distinct, and checks that the
// live heap stays bounded: every in-memory structure they feed (the
// inspector's ring, the proxy's identity cache and write-behind queue) is
// bounded by bytes. Inputs over Klaviyo's own limits are 422 naming the
// field.
func TestHostileInputsHeapBounded(t *testing.T) {
	m, _ := startProxyMainEnv(t, map[string]string{
		"SNIPPETD_KLAVIYO_URL":     "http://127.0.0.1:9", // nothing delivered: the fake would hold the events
		"SNIPPETD_PROXY_RATE":      "100000",
		"SNIPPETD_PROXY_BURST":     "100000",
		"SNIPPETD_PROXY_ANONYMOUS": "keep",
	})
	base := m.Server.URL()
	post := func(path, body string, h map[string]string, cookies ...*http.Cookie) (int, string) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	str := func(i, n int, c byte) string { return fmt.Sprintf("%08d", i) + strings.Repeat(string(c), n-8) }
	product := func(i, n int) string {
		return `{"id":"` + str(i, 64, 'i') + `","sku":"` + str(i, n, 's') + `","name":"` + str(i, n, 'n') + `","url":"https://shop.example/` + str(i, n-21, 'u') +
			`","image_url":"https://shop.example/` + str(i, n-21, 'm') + `","brand":"` + str(i, n, 'b') + `","categories":["` + str(i, n, 'c') + `","` + str(i, n, 'd') + `"],"price":9.5}`
	}
	jsonH := map[string]string{"Content-Type": "application/json", "Accept": "application/json"}

	// Over Klaviyo's limits: 422 naming the field.
	over := `{"product":{"id":"p1","name":"` + strings.Repeat("n", klaviyo.MaxStringBytes+1) + `","price":1}}`
	if st, body := post("/v1/render/viewed-product", over, jsonH); st != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"product.name"`) {
		t.Fatalf("a name over 100 KB: %d %.300s", st, body)
	}
	overItems := `{"snippets":[{"type":"started-checkout","cart":{"id":"c","items":[` + strings.Repeat(`{"product":{"id":"p","name":"n","price":1},"quantity":1},`, klaviyo.MaxArrayItems) + `{"product":{"id":"p","name":"n","price":1},"quantity":1}]}}]}`
	if st, body := post("/v1/render", overItems, jsonH); st != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"snippets[0].cart.items"`) {
		t.Fatalf("a cart over 4,000 items: %d %.300s", st, body)
	}

	before := heapBytes()
	for i := range renderRequests {
		st, body := post("/v1/render/viewed-product", `{"product":`+product(i, klaviyo.MaxStringBytes)+`}`, jsonH)
		if st != http.StatusOK {
			t.Fatalf("render %d: %d %.300s", i, st, body)
		}
	}
	shop := map[string]string{"Origin": "https://shop.example", "Content-Type": "text/plain"}
	for i := range proxyRequests {
		// A new browser each time (no sd_bid), a 4 KB __kla_id that fails
		// parsing, a claim with every field at its limit, and properties
		// filling the body limit.
		email := str(i, 60, 'e') + "@" + strings.Repeat("x", 180) + ".example"
		body := `{"events":[{"metric":"Viewed Product","properties":{"P":"` + str(i, 60_000, 'p') + `"}}],"profile":{"email":"` + email +
			`","external_id":"` + str(i, 255, 'x') + `","first_name":"` + str(i, 255, 'f') + `","last_name":"` + str(i, 255, 'l') + `"}}`
		st, resp := post("/s/e", body, shop, &http.Cookie{Name: "__kla_id", Value: str(i, 4000, 'k')})
		if st != http.StatusAccepted {
			t.Fatalf("proxy %d: %d %.300s", i, st, resp)
		}
	}
	after := heapBytes()
	growth := int64(after) - int64(before)
	t.Logf("live heap %d MiB before, %d MiB after %d renders and %d proxy requests (growth %d MiB, bound %d MiB)",
		before>>20, after>>20, renderRequests, proxyRequests, growth>>20, hostileHeapBound>>20)
	if growth > hostileHeapBound {
		t.Errorf("live heap grew by %d MiB, more than %d MiB", growth>>20, hostileHeapBound>>20)
	}
}
