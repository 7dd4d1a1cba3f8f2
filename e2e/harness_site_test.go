package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/snippets"
	"github.com/snippetd/snippetd/web"
)

// Nonce is the CSP nonce of every page a Site serves; the pages are served
// with a nonce-based Content-Security-Policy so that a script element
// without it would not run.
const Nonce = "e2e-nonce-0123456789"

// CollectPrefix is where a Site records requests: use it as the helper's
// proxy endpoint (LoaderOptions.ProxyEndpoint) in tests.
const CollectPrefix = "/collect/"

// Site is the real snippetd HTTP server (httpapi.Server, serving the
// helper from its real route) plus test pages under /t/ and a recorder of
// the requests sent to CollectPrefix.
type Site struct {
	Server *httpapi.Server

	mu       sync.Mutex
	pages    map[string]string
	requests []Request
}

// Request is one request a Site recorded.
type Request struct {
	Method, Path, ContentType string
	Body                      []byte
}

// NewSite starts a Site on 127.0.0.1 for t, closed when t ends.
func NewSite(t testing.TB) *Site {
	t.Helper()
	srv := httpapi.NewServer()
	srv.Addr = "127.0.0.1:0"
	srv.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := embeddedHelpers()
	if err != nil {
		t.Fatal(err)
	}
	srv.Helpers = h
	s := MountSite(srv)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return s
}

// MountSite adds the test pages and the recorder to srv (before it
// serves), for tests that run the whole server through app.Main.
func MountSite(srv *httpapi.Server) *Site {
	s := &Site{Server: srv, pages: map[string]string{}}
	r := srv.Router()
	r.PathPrefix("/t/").HandlerFunc(s.servePage)
	r.PathPrefix(CollectPrefix).HandlerFunc(s.record)
	return s
}

// URL returns the absolute URL of path on the site.
func (s *Site) URL(path string) string { return s.Server.URL() + path }

// Page serves html at /t/<name> and returns its URL.
func (s *Site) Page(name, html string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages["/t/"+name] = html
	return s.URL("/t/" + name)
}

func (s *Site) servePage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	html, ok := s.pages[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// strict-dynamic lets the helper insert klaviyo.js on consent.
	w.Header().Set("Content-Security-Policy", "script-src 'nonce-"+Nonce+"' 'strict-dynamic'; object-src 'none'; base-uri 'none'")
	io.WriteString(w, html)
}

func (s *Site) record(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Body: body})
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// Requests returns the requests recorded so far.
func (s *Site) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// WaitRequests waits until at least n requests were recorded and returns
// them all.
func (s *Site) WaitRequests(t testing.TB, n int) []Request {
	t.Helper()
	deadline := time.Now().Add(actionTimeout)
	for {
		if got := s.Requests(); len(got) >= n || time.Now().After(deadline) {
			if len(got) < n {
				t.Fatalf("got %d requests, want %d: %+v", len(got), n, got)
			}
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Loader renders the real loader partial with the page nonce. When
// o.HelperSrc is empty it includes the helper build matching o's consent
// and proxy options, from the site's own /assets/ route, with its SRI.
func Loader(t testing.TB, o snippets.LoaderOptions) string {
	t.Helper()
	if o.HelperSrc == "" {
		b := Helper(t, web.Features{Consent: o.ConsentRequired, Proxy: o.ProxyEndpoint != ""})
		o.HelperSrc, o.HelperIntegrity = b.Path, b.Integrity
	}
	return Render(t, snippets.Loader(o))
}

// Helper returns the helper build with features f.
func Helper(t testing.TB, f web.Features) *web.Bundle {
	t.Helper()
	h, err := embeddedHelpers()
	if err != nil {
		t.Fatal(err)
	}
	return h.Get(f)
}

// embeddedHelpers builds the helpers once per test binary: the builds are
// deterministic, so they equal the server's.
var embeddedHelpers = sync.OnceValues(web.Embedded)

// Render renders c with the page nonce.
func Render(t testing.TB, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(templ.WithNonce(context.Background(), Nonce), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// HTML wraps head and body parts into a page.
func HTML(head, body string) string {
	return "<!doctype html><html><head><meta charset=utf-8><title>e2e</title>" + head + "</head><body>" + body + "</body></html>"
}

// Script is an inline script element carrying the page nonce.
func Script(js string) string {
	return `<script nonce="` + Nonce + `">` + strings.ReplaceAll(js, "</", `<\/`) + `</script>`
}
