package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/db"
)

// TestMillionProductFeed measures a large feed; it is skipped unless
// SNIPPETD_BENCH_1M is set (it writes hundreds of megabytes), so `make
// test` never runs it. Run it as separate processes under /usr/bin/time -v
// so each phase gets its own peak RSS (docs/benchmarks.md has the
// commands):
//
//	SNIPPETD_BENCH_1M=gen:N:FILE     write N products as JSON lines to FILE
//	SNIPPETD_BENCH_1M=feed:FILE      load FILE, serve /catalog.json and .xml over HTTP
//	SNIPPETD_BENCH_1M=write:FILE:OUT write FILE's JSON feed to OUT (for the baseline)
//	SNIPPETD_BENCH_1M=static:OUT     baseline: serve those feed bytes from the file
func TestMillionProductFeed(t *testing.T) {
	spec := os.Getenv("SNIPPETD_BENCH_1M")
	if spec == "" {
		t.Skip("set SNIPPETD_BENCH_1M (see docs/benchmarks.md) to run the large-feed measurement")
	}
	mode, arg, _ := strings.Cut(spec, ":")
	switch mode {
	case "gen":
		n, file, _ := strings.Cut(arg, ":")
		count, err := strconv.Atoi(n)
		if err != nil {
			t.Fatal(err)
		}
		generate(t, file, count)
	case "feed":
		benchFeed(t, arg)
	case "write":
		in, out, _ := strings.Cut(arg, ":")
		writeFeed(t, in, out)
	case "static":
		benchStatic(t, arg)
	default:
		t.Fatalf("unknown mode %q", mode)
	}
}

func generate(t *testing.T, file string, n int) {
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		fmt.Fprintf(w, `{"id":"sku-%07d","name":"Product %d & <friends>","url":"https://shop.example/p/sku-%07d","image_url":"https://cdn.example/i/sku-%07d.jpg","description":"A fine product, number %d, with a description long enough to look like a real one: soft, durable, blue.","price":%d.%02d,"categories":["Category %d","Sub %d"],"inventory_quantity":%d,"inventory_policy":%d}`+"\n",
			i, i, i, i, i, 1+i%500, i%100, i%20, i%7, i%1000, 1+i%2)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// rss returns the process's current and peak resident set size in MiB.
func rss(t *testing.T) (cur, peak float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("needs /proc")
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			kb, _ := strconv.ParseFloat(f[1], 64)
			if f[0] == "VmRSS:" {
				cur = kb / 1024
			} else {
				peak = kb / 1024
			}
		}
	}
	return cur, peak
}

// resetPeak restarts the kernel's peak-RSS counter (VmHWM), so the next
// phase's peak is its own.
func resetPeak() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// fetch GETs url and discards the body, returning bytes and time.
func fetch(t *testing.T, client *http.Client, url string, gzip bool) (int64, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	// Set by hand, or the transport asks for gzip and inflates it.
	req.Header.Set("Accept-Encoding", "identity")
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip") // the body stays compressed
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %d %v", url, resp.StatusCode, err)
	}
	return n, time.Since(start)
}

func benchFeed(t *testing.T, file string) {
	start := time.Now()
	s := catalogServer(t, catalog.Options{File: file})
	s.Addr = "127.0.0.1:0"
	load := time.Since(start)
	_, loadPeak := rss(t)
	snap, release := s.Catalog.Acquire()
	t.Logf("load: %d products in %s, peak RSS %.0f MiB; JSON %d bytes in %d parts, XML %d bytes in %d parts",
		snap.Count(), load.Round(time.Millisecond), loadPeak, snap.Size(catalog.JSON, 0), len(snap.Parts(catalog.JSON)),
		snap.Size(catalog.XML, 0), len(snap.Parts(catalog.XML)))
	release()
	if err := s.Open(); err != nil { // the real server: routes, timeouts, gzip
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// The baseline in the same process and run: the same JSON bytes
	// served from a file with http.ServeFile (sendfile), fetched
	// alternately with the feed so that machine load hits both alike.
	static := filepath.Join(t.TempDir(), "catalog.json")
	writeFeedFrom(t, s.Catalog, static)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, static) }))
	defer ts.Close()
	runtime.GC()
	resetPeak()
	base, _ := rss(t)
	var feedTimes, staticTimes []time.Duration
	for range 3 {
		_, took := fetch(t, http.DefaultClient, s.URL()+"/catalog.json", false)
		feedTimes = append(feedTimes, took)
		_, took = fetch(t, http.DefaultClient, ts.URL+"/catalog.json", false)
		staticTimes = append(staticTimes, took)
	}
	slices.Sort(feedTimes)
	slices.Sort(staticTimes)
	t.Logf("serve /catalog.json (median of 3): feed %s, static file %s: ratio %.2f",
		feedTimes[1].Round(time.Millisecond), staticTimes[1].Round(time.Millisecond), feedTimes[1].Seconds()/staticTimes[1].Seconds())
	for _, c := range []struct {
		path string
		gz   bool
	}{{"/catalog.xml", false}, {"/catalog.json", true}, {"/catalog.xml?part=1", false}} {
		n, took := fetch(t, http.DefaultClient, s.URL()+c.path, c.gz)
		t.Logf("serve %s gzip=%v: %d bytes in %s (%.2f × the static JSON median)", c.path, c.gz, n, took.Round(time.Millisecond), took.Seconds()/staticTimes[1].Seconds())
	}
	_, peak := rss(t)
	t.Logf("peak RSS while serving every request above: %.0f MiB (%.0f MiB when serving began)", peak, base)
}

// writeFeed writes the JSON feed of the products in file to out (for the
// static baseline; not measured).
func writeFeed(t *testing.T, file, out string) {
	d, err := db.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := catalog.Open(context.Background(), catalog.Options{File: file, DB: d, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	writeFeedFrom(t, c, out)
}

func writeFeedFrom(t *testing.T, c *catalog.Catalog, out string) {
	snap, release := c.Acquire()
	defer release()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Write(f, catalog.JSON, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// benchStatic serves the already-written feed file as bytes, the way a
// web server would: the baseline for time and memory.
func benchStatic(t *testing.T, static string) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, static)
	}))
	defer ts.Close()
	runtime.GC()
	resetPeak()
	base, _ := rss(t)
	n, took := fetch(t, http.DefaultClient, ts.URL+"/catalog.json", false)
	_, peak := rss(t)
	t.Logf("static baseline /catalog.json: %d bytes in %s (%.0f MB/s), peak RSS while serving %.0f MiB (%.0f MiB before)",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds()/1e6, peak, base)
}
