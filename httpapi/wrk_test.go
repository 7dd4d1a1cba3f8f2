package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestWrkRender is the load figure for POST /v1/render/added-to-cart: wrk
// against the real route and, in the same process and router, against a
// handler that reads the same body and writes precomputed bytes of the
// same size with the same headers. It only runs with SNIPPETD_WRK=1 (see
// scripts/bench-render.sh); SNIPPETD_WRK_DURATION and
// SNIPPETD_WRK_CONNECTIONS tune it.
func TestWrkRender(t *testing.T) {
	if os.Getenv("SNIPPETD_WRK") != "1" {
		t.Skip("load test: run scripts/bench-render.sh (SNIPPETD_WRK=1, needs wrk)")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatal("wrk not found: apt-get install wrk")
	}
	s := openServer(t)
	body := bodies["added-to-cart"]
	resp, err := http.Post(s.URL()+"/v1/render/added-to-cart", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	pre, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("render: %d %s", resp.StatusCode, pre)
	}
	length := strconv.Itoa(len(pre))
	s.Router().HandleFunc("/bench/precomputed", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Vary", "Accept")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", length)
		w.Write(pre)
	}).Methods("POST")

	lua := filepath.Join(t.TempDir(), "post.lua")
	script := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", body)
	if err := os.WriteFile(lua, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	duration := envOr("SNIPPETD_WRK_DURATION", "10s")
	conns := envOr("SNIPPETD_WRK_CONNECTIONS", "16")
	reqs := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	run := func(path string) float64 {
		args := []string{"-t", "1", "-c", conns, "-d", duration, "--latency", "-s", lua, s.URL() + path}
		out, err := exec.Command(wrk, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("wrk %v: %v\n%s", args, err, out)
		}
		m := reqs.FindSubmatch(out)
		if m == nil || strings.Contains(string(out), "Non-2xx") {
			t.Fatalf("wrk output without a clean result:\n%s", out)
		}
		t.Logf("wrk %s\n%s", strings.Join(args, " "), out)
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		return f
	}
	run("/bench/precomputed") // warm-up
	var pre1, ren1 float64
	const rounds = 2
	for range rounds {
		pre1 += run("/bench/precomputed")
		ren1 += run("/v1/render/added-to-cart")
	}
	pre1 /= rounds
	ren1 /= rounds
	t.Logf("response %s bytes; precomputed %.0f req/s, render %.0f req/s: render = %.0f%% of precomputed (target >= 60%%)",
		length, pre1, ren1, 100*ren1/pre1)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
