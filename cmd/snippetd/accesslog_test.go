package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// TestAccessLogServe: with SNIPPETD_ACCESS_LOG=on the server logs each
// request in the configured format (here JSON, spelt as an operator might),
// and neither the log nor anything else it prints holds the API token,
// the private key, a cookie or a query string.
func TestAccessLogServe(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	const token = "SECRET-api-token-4711"
	in := start(t, "access-log", freeAddr(t), map[string]string{
		"SNIPPETD_DATA_DIR":    t.TempDir(),
		"SNIPPETD_API_TOKEN":   token,
		"SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL": fake.URL,
		"SNIPPETD_ACCESS_LOG":  "On",
		"SNIPPETD_LOG_FORMAT":  "JSON",
		"SNIPPETD_LOG_LEVEL":   "debug",
	})
	order := `{"id":"1001","placed_at":"2026-02-05T15:00:00Z","currency":"USD","customer":{"email":"ann@example.com"},
		"items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":2}],"total":19}`
	for _, rq := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/orders?token=" + token, order, 202},
		{"GET", "/debug/events?token=" + token + "&limit=5", "", 200},
		{"GET", "/healthz", "", 200},
	} {
		req, err := http.NewRequest(rq.method, in.url+rq.path, strings.NewReader(rq.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: "snippetd_token", Value: "cookie" + token})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if rq.status != 0 && resp.StatusCode != rq.status {
			t.Errorf("%s %s: %d, want %d", rq.method, rq.path, resp.StatusCode, rq.status)
		}
	}
	if _, err := fake.WaitEvents(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	in.kill()
	log := in.log.String()
	for _, secret := range []string{token, klaviyotest.PrivateKey, "token=", "limit=5", "Bearer"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds %q:\n%s", secret, log)
		}
	}
	paths := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec struct {
			Msg, Method, Path string
			Status            int
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		if rec.Msg == "request" {
			paths[rec.Method+" "+rec.Path] = true
		}
	}
	for _, p := range []string{"POST /v1/orders", "GET /debug/events", "GET /healthz", "GET /readyz"} {
		if !paths[p] {
			t.Errorf("no access log line for %s; logged %v", p, paths)
		}
	}
}
