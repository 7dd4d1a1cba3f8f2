package proxy

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is a test klaviyo.js origin that records the paths asked for
// and can be switched to failing.
type upstream struct {
	mu    sync.Mutex
	body  string
	etag  string
	fail  atomic.Bool
	hits  atomic.Int64
	paths []string
	srv   *httptest.Server
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{body: "/* klaviyo.js v1 */", etag: `"up-1"`}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.paths = append(u.paths, r.URL.RequestURI())
		body, etag := u.body, u.etag
		u.mu.Unlock()
		if u.fail.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/javascript")
		w.Header().Set("ETag", etag)
		io.WriteString(w, body)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) set(body, etag string) {
	u.mu.Lock()
	u.body, u.etag = body, etag
	u.mu.Unlock()
}

func newScript(t *testing.T, u *upstream, dir string, now *time.Time) *Script {
	t.Helper()
	url, err := ScriptURL(u.srv.URL+"/", "ABC123")
	if err != nil {
		t.Fatal(err)
	}
	s := &Script{URL: url, Client: NewUpstreamClient(), Dir: dir, TTL: time.Minute, Now: func() time.Time { return *now }}
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	return s
}

func serveScript(t *testing.T, s *Script, hdr map[string]string, target string) *httptest.ResponseRecorder {
	t.Helper()
	p := New(Options{AllowedOrigins: []string{shopOrigin}}, nil, nil, s, nil)
	srv := router(p)
	r := httptest.NewRequest("GET", target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w
}

// waitFor polls cond (a background refresh runs in its own goroutine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestScriptCache(t *testing.T) {
	u := newUpstream(t)
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newScript(t, u, dir, &now)

	// Cold start: fetched once, for the configured key only, whatever the
	// client's path and query say.
	w := serveScript(t, s, nil, "/s/k.js?company_id=EVIL99&url=http://evil.example/x.js")
	if w.Code != 200 || w.Body.String() != "/* klaviyo.js v1 */" {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	etag := w.Header().Get("ETag")
	if etag == "" || !strings.Contains(w.Header().Get("Cache-Control"), "stale-if-error") || w.Header().Get("Content-Type") != "application/javascript; charset=utf-8" {
		t.Errorf("headers %v", w.Header())
	}
	if u.paths[0] != "/onsite/js/ABC123/klaviyo.js" {
		t.Errorf("upstream asked for %q", u.paths[0])
	}

	// Conditional request and gzip.
	if w := serveScript(t, s, map[string]string{"If-None-Match": etag}, "/s/k.js"); w.Code != 304 || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d", w.Code)
	}
	w = serveScript(t, s, map[string]string{"Accept-Encoding": "br, gzip"}, "/s/k.js")
	zr, err := gzip.NewReader(w.Body)
	if err != nil || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %v %v", err, w.Header())
	}
	if b, _ := io.ReadAll(zr); string(b) != "/* klaviyo.js v1 */" {
		t.Errorf("gunzipped %q", b)
	}
	if u.hits.Load() != 1 {
		t.Errorf("fresh copy refetched: %d hits", u.hits.Load())
	}

	// Stale: served at once from cache while one refresh runs.
	u.set("/* klaviyo.js v2 */", `"up-2"`)
	now = now.Add(2 * time.Minute)
	if w := serveScript(t, s, nil, "/s/k.js"); w.Body.String() != "/* klaviyo.js v1 */" {
		t.Errorf("stale-while-revalidate served %q", w.Body)
	}
	waitFor(t, "the refresh", func() bool { return strings.Contains(serveScript(t, s, nil, "/s/k.js").Body.String(), "v2") })

	// Upstream down: the cached copy keeps being served (stale-if-error),
	// and a new process with no memory serves it from disk.
	u.fail.Store(true)
	now = now.Add(10 * time.Minute)
	hits := u.hits.Load()
	for range 3 {
		if w := serveScript(t, s, nil, "/s/k.js"); w.Code != 200 || !strings.Contains(w.Body.String(), "v2") {
			t.Fatalf("stale-if-error: %d %q", w.Code, w.Body)
		}
	}
	waitFor(t, "the failed refresh", func() bool { return u.hits.Load() == hits+1 })
	if u.hits.Load() != hits+1 {
		t.Errorf("failing upstream was asked %d times, want once per %v", u.hits.Load()-hits, retryAfterError)
	}
	s2 := newScript(t, u, dir, &now)
	if w := serveScript(t, s2, nil, "/s/k.js"); w.Code != 200 || !strings.Contains(w.Body.String(), "v2") || w.Header().Get("ETag") == etag {
		t.Errorf("from disk: %d %q", w.Code, w.Body)
	}
}

func TestScriptColdUpstreamDown(t *testing.T) {
	u := newUpstream(t)
	u.fail.Store(true)
	now := time.Now()
	s := newScript(t, u, t.TempDir(), &now)
	w := serveScript(t, s, nil, "/s/k.js")
	if w.Code != 503 || w.Header().Get("Retry-After") == "" || errorCode(t, w) != "unavailable" {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

func TestScriptURL(t *testing.T) {
	got, err := ScriptURL("https://static.klaviyo.com", "ABC123")
	if err != nil || got != "https://static.klaviyo.com/onsite/js/ABC123/klaviyo.js" {
		t.Errorf("%q %v", got, err)
	}
	for _, bad := range []string{"ftp://x", "https://x?y=1", "/relative", "https://user:pw@x"} {
		if _, err := ScriptURL(bad, "ABC123"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestScriptRefusesOtherHostRedirect(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "evil") }))
	defer other.Close()
	redir := httptest.NewServer(http.RedirectHandler(other.URL+"/x.js", http.StatusFound))
	defer redir.Close()
	url, _ := ScriptURL(redir.URL, "ABC123")
	s := &Script{URL: url, Client: NewUpstreamClient(), Dir: t.TempDir(), TTL: time.Minute}
	if w := serveScript(t, s, nil, "/s/k.js"); w.Code != 503 {
		t.Errorf("followed a redirect to another host: %d %q", w.Code, w.Body)
	}
}

// TestScriptWarm: Warm fetches klaviyo.js at start-up, so an upstream that
// fails afterwards still leaves a copy to serve; with a copy on disk it
// fetches nothing.
func TestScriptWarm(t *testing.T) {
	u := newUpstream(t)
	now := time.Now()
	dir := t.TempDir()
	s := newScript(t, u, dir, &now)
	s.Warm()
	s.Warm() // one fetch at a time
	s.mu.Lock()
	wait := s.inflight
	s.mu.Unlock()
	if wait == nil {
		t.Fatal("Warm started no fetch")
	}
	<-wait
	if got := u.hits.Load(); got != 1 {
		t.Fatalf("upstream hits %d, want 1", got)
	}
	u.fail.Store(true)
	w := serveScript(t, s, nil, "/s/k.js")
	if w.Code != http.StatusOK || w.Body.String() != "/* klaviyo.js v1 */" {
		t.Fatalf("after warm-up with upstream down: %d %q", w.Code, w.Body)
	}

	// A restart finds the copy on disk: nothing to warm.
	s2 := newScript(t, u, dir, &now)
	s2.Warm()
	s2.mu.Lock()
	inflight := s2.inflight
	s2.mu.Unlock()
	if inflight != nil {
		t.Error("Warm fetched although a copy was on disk")
	}
}

// Close cancels the fetch in progress and waits for it, and no fetch
// starts after it: nothing writes to the cache directory once Close has
// returned (a test's TempDir removal raced the warm-up's write).
func TestScriptCloseStopsFetches(t *testing.T) {
	started := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-r.Context().Done() // an upstream that never answers
	}))
	defer srv.Close()
	url, err := ScriptURL(srv.URL+"/", "ABC123")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Script{URL: url, Client: NewUpstreamClient(), Dir: dir, TTL: time.Minute}
	s.Warm()
	<-started
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // the fetch's own timeout is 30 s
		t.Fatal("Close did not cancel the running fetch")
	}
	s.mu.Lock()
	inflight := s.inflight
	s.mu.Unlock()
	if inflight != nil {
		t.Error("a fetch is still marked running after Close")
	}
	s.Warm()
	w := serveScript(t, s, nil, "/s/k.js")
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("k.js after Close with no copy: %d, want 503", w.Code)
	}
	s.mu.Lock()
	inflight = s.inflight
	s.mu.Unlock()
	if inflight != nil {
		t.Error("a fetch started after Close")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("cache directory written: %v", entries)
	}
}
