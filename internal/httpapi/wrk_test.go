package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
	body := seedAddedToCart
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
	total := regexp.MustCompile(`([0-9]+) requests in`)
	// run returns wrk's requests/s and this process's CPU time per request
	// (the server's work: wrk is another process), which other load on a
	// shared machine disturbs much less than throughput.
	run := func(path string) (float64, float64) {
		args := []string{"-t", "1", "-c", conns, "-d", duration, "--latency", "-s", lua, s.URL() + path}
		start := cpuTime()
		out, err := exec.Command(wrk, args...).CombinedOutput()
		used := cpuTime() - start
		if err != nil {
			t.Fatalf("wrk %v: %v\n%s", args, err, out)
		}
		m, n := reqs.FindSubmatch(out), total.FindSubmatch(out)
		if m == nil || n == nil || strings.Contains(string(out), "Non-2xx") {
			t.Fatalf("wrk output without a clean result:\n%s", out)
		}
		t.Logf("wrk %s\n%s", strings.Join(args, " "), out)
		rps, _ := strconv.ParseFloat(string(m[1]), 64)
		count, _ := strconv.ParseFloat(string(n[1]), 64)
		return rps, float64(used.Microseconds()) / count
	}
	run("/bench/precomputed") // warm-up
	rounds := 3
	var preRPS, renRPS, preCPU, renCPU []float64
	for range rounds {
		r, c := run("/bench/precomputed")
		preRPS, preCPU = append(preRPS, r), append(preCPU, c)
		r, c = run("/v1/render/added-to-cart")
		renRPS, renCPU = append(renRPS, r), append(renCPU, c)
	}
	for i := range rounds {
		t.Logf("round %d: precomputed %.0f req/s %.1f cpu-µs/req; render %.0f req/s %.1f cpu-µs/req; render/precomputed throughput %.0f%%, cpu %.2fx",
			i+1, preRPS[i], preCPU[i], renRPS[i], renCPU[i], 100*renRPS[i]/preRPS[i], renCPU[i]/preCPU[i])
	}
	mp, mr, cp, cr := median(preRPS), median(renRPS), median(preCPU), median(renCPU)
	t.Logf("response %s bytes; medians: precomputed %.0f req/s (%.1f cpu-µs/req), render %.0f req/s (%.1f cpu-µs/req): render = %.0f%% of precomputed throughput (target >= 60%%), server CPU per request %.2fx (throughput on dedicated cores %.0f%%)",
		length, mp, cp, mr, cr, 100*mr/mp, cr/cp, 100*cp/cr)
}

// seedAddedToCart is the integration guide's two-book cart with the second
// book just added, every field filled as in the guide.
const seedAddedToCart = `{"cart":{"id":"1000123","checkout_url":"http://www.example.com/path/to/checkout","items":[` +
	`{"product":{"id":"1111","sku":"WINNIEPOOH","name":"Winnie the Pooh","url":"http://www.example.com/path/to/product","image_url":"http://www.example.com/path/to/product/image.png","categories":["Fiction","Children"],"price":9.99},"quantity":1},` +
	`{"product":{"id":"1112","sku":"TALEOFTWO","name":"A Tale of Two Cities","url":"http://www.example.com/path/to/product2","image_url":"http://www.example.com/path/to/product/image2.png","categories":["Fiction","Classics"],"price":19.99},"quantity":1}]},` +
	`"added":{"product":{"id":"1112","sku":"TALEOFTWO","name":"A Tale of Two Cities","url":"http://www.example.com/path/to/product2","image_url":"http://www.example.com/path/to/product/image2.png","categories":["Fiction","Classics"],"price":19.99},"quantity":1}}`

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// cpuTime returns the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
