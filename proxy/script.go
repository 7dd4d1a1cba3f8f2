package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
)

// maxScriptBytes caps the klaviyo.js body accepted from upstream.
const maxScriptBytes = 8 << 20

// ScriptURL returns the one URL the proxy ever fetches: klaviyo.js for
// publicKey under base (such as https://static.klaviyo.com). Nothing a
// client sends takes part in it.
func ScriptURL(base, publicKey string) (string, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("static URL %q: want an http(s) URL without query, such as https://static.klaviyo.com", base)
	}
	return u.String() + "/onsite/js/" + url.PathEscape(publicKey) + "/klaviyo.js", nil
}

// NewUpstreamClient returns the dedicated HTTP client used for klaviyo.js:
// its own transport with dial, TLS and header timeouts, and redirects
// allowed only on the same host.
func NewUpstreamClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || req.URL.Host != via[0].URL.Host {
				return errors.New("redirect to another host refused")
			}
			return nil
		},
	}
}

// scriptEntry is one cached copy of klaviyo.js.
type scriptEntry struct {
	Body         []byte    `json:"-"`
	Gzip         []byte    `json:"-"`
	ETag         string    `json:"etag"`          // ours: a hash of Body
	UpstreamETag string    `json:"upstream_etag"` // for If-None-Match upstream
	LastModified string    `json:"last_modified"` // for If-Modified-Since upstream
	FetchedAt    time.Time `json:"fetched_at"`    // last time upstream confirmed it
}

// Script serves klaviyo.js from a memory and disk cache, refreshing it from
// upstream: fresh for TTL; after that served stale while one background
// refresh runs (stale-while-revalidate), and kept serving whenever upstream
// fails (stale-if-error). Only a cold start with no copy on disk waits for
// upstream.
type Script struct {
	// URL is the upstream klaviyo.js URL (see ScriptURL).
	URL string
	// Client fetches it (see NewUpstreamClient).
	Client *http.Client
	// Dir holds the disk copy (klaviyo.js and klaviyo.js.json).
	Dir string
	// TTL is how long a copy is fresh.
	TTL time.Duration
	// Logger receives refresh failures.
	Logger *slog.Logger
	// Now is the clock (tests replace it).
	Now func() time.Time

	mu          sync.Mutex
	entry       *scriptEntry
	inflight    chan struct{} // closed when the running fetch ends
	lastAttempt time.Time
	lastErr     error
	closed      bool
	fixed       bool               // FixedScript: never fetches
	fetchCtx    context.Context    // fetches run under it (made by the first)
	stop        context.CancelFunc // cancels fetchCtx (Close)
}

// retryAfterError is how long a failed refresh holds off the next one.
const retryAfterError = 30 * time.Second

func (s *Script) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Load reads the disk copy, if any, into memory.
func (s *Script) Load() error {
	meta, err := os.ReadFile(filepath.Join(s.Dir, "klaviyo.js.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var e scriptEntry
	if err := json.Unmarshal(meta, &e); err != nil {
		return nil // a torn write: fetch again
	}
	body, err := os.ReadFile(filepath.Join(s.Dir, "klaviyo.js"))
	if err != nil {
		return nil
	}
	if etagOf(body) != e.ETag {
		return nil
	}
	e.Body = body
	e.Gzip = gzipBytes(body)
	s.mu.Lock()
	s.entry = &e
	s.mu.Unlock()
	return nil
}

// FixedScript serves body as klaviyo.js and never reaches upstream: in
// local-sink mode the script proxy serves the local stand-in, so nothing
// leaves the machine.
func FixedScript(body []byte) *Script {
	return &Script{fixed: true, entry: &scriptEntry{Body: body, Gzip: gzipBytes(body), ETag: etagOf(body), FetchedAt: time.Now()}}
}

// get returns the cached copy, starting a background refresh when it is
// stale, or waiting for the first fetch when there is none.
func (s *Script) get(ctx context.Context) (*scriptEntry, error) {
	s.mu.Lock()
	e := s.entry
	now := s.now()
	if s.fixed {
		s.mu.Unlock()
		return e, nil
	}
	if e != nil {
		if now.Sub(e.FetchedAt) >= s.TTL && s.inflight == nil && now.Sub(s.lastAttempt) >= retryAfterError {
			s.startFetch()
		}
		s.mu.Unlock()
		return e, nil
	}
	if s.inflight == nil {
		if now.Sub(s.lastAttempt) < retryAfterError && s.lastErr != nil || !s.startFetch() {
			s.mu.Unlock()
			return nil, apperr.Errorf(apperr.EUNAVAILABLE, "klaviyo.js is not available yet")
		}
	}
	wait := s.inflight
	s.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, apperr.Errorf(apperr.EUNAVAILABLE, "klaviyo.js is not available yet")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entry == nil {
		return nil, apperr.Errorf(apperr.EUNAVAILABLE, "klaviyo.js is not available yet")
	}
	return s.entry, nil
}

// Warm starts fetching klaviyo.js in the background when no copy is
// cached (none on disk at start-up), so the first shopper is served from
// memory and an upstream outage that begins after start-up still finds a
// copy to serve.
func (s *Script) Warm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fixed && s.entry == nil && s.inflight == nil {
		s.startFetch()
	}
}

// Close cancels a running fetch and returns once it has ended; no fetch
// starts after it (requests get the copy in memory, if any), so nothing
// writes to Dir once Close has returned.
func (s *Script) Close() {
	s.mu.Lock()
	s.closed = true
	if s.stop != nil {
		s.stop()
	}
	wait := s.inflight
	s.mu.Unlock()
	if wait != nil {
		<-wait
	}
}

// startFetch runs one fetch in the background, unless s is closed; s.mu is
// held. It reports whether it started one.
func (s *Script) startFetch() bool {
	if s.closed {
		return false
	}
	if s.fetchCtx == nil {
		s.fetchCtx, s.stop = context.WithCancel(context.Background())
	}
	done := make(chan struct{})
	s.inflight = done
	s.lastAttempt = s.now()
	prev := s.entry
	base := s.fetchCtx
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(base, 30*time.Second)
		defer cancel()
		e, err := s.fetch(ctx, prev)
		if err == nil {
			// On disk before in memory, so that whoever sees the new copy
			// can count on a restart seeing it too.
			if serr := s.save(e); serr != nil && s.Logger != nil {
				s.Logger.Warn("klaviyo.js disk cache write failed", "err", serr)
			}
		} else if s.Logger != nil && base.Err() == nil {
			s.Logger.Warn("klaviyo.js refresh failed; serving the cached copy if any", "err", err)
		}
		s.mu.Lock()
		s.inflight = nil
		s.lastErr = err
		if err == nil {
			s.entry = e
		}
		s.mu.Unlock()
	}()
	return true
}

// fetch asks upstream for klaviyo.js, conditionally when prev exists.
func (s *Script) fetch(ctx context.Context, prev *scriptEntry) (*scriptEntry, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL, nil)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		if prev.UpstreamETag != "" {
			req.Header.Set("If-None-Match", prev.UpstreamETag)
		}
		if prev.LastModified != "" {
			req.Header.Set("If-Modified-Since", prev.LastModified)
		}
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && prev != nil {
		e := *prev
		e.FetchedAt = s.now()
		return &e, nil
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("upstream answered %s", resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" {
		return nil, errors.New("upstream answered HTML, not JavaScript")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxScriptBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxScriptBytes {
		return nil, fmt.Errorf("upstream body exceeds %d bytes", maxScriptBytes)
	}
	return &scriptEntry{
		Body:         body,
		Gzip:         gzipBytes(body),
		ETag:         etagOf(body),
		UpstreamETag: resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		FetchedAt:    s.now(),
	}, nil
}

// save writes the copy to disk: body first, then the metadata naming its
// hash, each through a rename, so a crash leaves either copy whole.
func (s *Script) save(e *scriptEntry) error {
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return err
	}
	meta, _ := json.Marshal(e)
	if err := writeFileAtomic(filepath.Join(s.Dir, "klaviyo.js"), e.Body); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.Dir, "klaviyo.js.json"), meta)
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func etagOf(body []byte) string {
	h := sha256.Sum256(body)
	return `"` + hex.EncodeToString(h[:12]) + `"`
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// serve answers GET and HEAD {prefix}k.js from the cache.
func (s *Script) serve(w http.ResponseWriter, r *http.Request) error {
	e, err := s.get(r.Context())
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfterError.Seconds())))
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/javascript; charset=utf-8")
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d, stale-while-revalidate=86400, stale-if-error=604800", int(s.TTL.Seconds())))
	h.Set("ETag", e.ETag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if etagMatch(r.Header.Get("If-None-Match"), e.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	body := e.Body
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = e.Gzip
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	return nil
}

func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
		return true
	}
	return false
}
