package inspect

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
)

// tokenCookie carries the API token for browsers, which cannot add an
// Authorization header to a page load or an EventSource.
const tokenCookie = "snippetd_debug"

// HandlerOptions configures a Handler.
type HandlerOptions struct {
	// Token is the API token (SNIPPETD_API_TOKEN) that opens the inspector
	// from anywhere; empty: only loopback in local-sink mode opens it.
	Token string
	// StreamPoll is how often the live stream re-reads the outbox, which
	// other instances and the delivery loop write without telling this
	// one (default 1s).
	StreamPoll time.Duration
	// Logger receives internal request errors and stream read failures
	// (nil: discarded).
	Logger *slog.Logger
}

// Handler serves the inspector's pages under /debug/events: the list (as
// HTML, JSON or table rows), its live stream and one event. Every route is
// guarded: a bearer token, or, in local-sink mode where nothing real is at
// stake, a request from a loopback address that did not come through a
// proxy. Mount it at /debug/events and /debug/events/.
type Handler struct {
	in      *Inspector
	token   string
	session string // the cookie's value for token (sessionValue)
	poll    time.Duration
	logger  *slog.Logger
	mux     *http.ServeMux
}

// NewHandler returns the inspector's handler reading from in.
func NewHandler(in *Inspector, o HandlerOptions) *Handler {
	h := &Handler{in: in, token: o.Token, session: sessionValue(o.Token), poll: o.StreamPoll, logger: o.Logger}
	if h.poll <= 0 {
		h.poll = time.Second
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	m := http.NewServeMux()
	m.Handle("/debug/events", h.methods("GET", "HEAD", h.guard(h.handleList)))
	// HEAD is no stream: it reaches the event route, which has no event
	// "stream" (404), as the API server's router always answered it.
	stream, event := h.guard(h.handleStream), h.guard(h.handleEvent)
	m.Handle("/debug/events/stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r.SetPathValue("id", "stream")
			event(w, r)
			return
		}
		h.methods("GET", "", stream).ServeHTTP(w, r)
	}))
	m.Handle("/debug/events/jobs", h.methods("GET", "HEAD", h.guard(h.handleJobs)))
	m.Handle("/debug/events/{id}", h.methods("GET", "HEAD", event))
	m.Handle("/", httpx.NotFound(h.logger))
	h.mux = m
	return h
}

// ServeHTTP routes r to the inspector's pages, on its decoded path as the
// API server's router does (an escaped slash separates segments).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawPath != "" {
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.RawPath = ""
		r2.URL = &u
		r = r2
	}
	h.mux.ServeHTTP(w, r)
}

// methods answers 405 in the API's JSON error shape for a method other
// than m1 or m2: ServeMux's own 405 is plain text.
func (h *Handler) methods(m1, m2 string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m1 && (m2 == "" || r.Method != m2) {
			httpx.MethodNotAllowed(h.logger).ServeHTTP(w, r)
			return
		}
		next(w, r)
	})
}

// guard lets a request through with the bearer token (or the cookie that
// ?token= sets), or from a direct loopback client in local-sink mode.
func (h *Handler) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.token != "" {
			if q := r.URL.Query().Get("token"); q != "" && httpx.TokenMatches(h.token, q) {
				http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: h.session, Path: "/debug/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: viaHTTPS(r)})
				// Drop the token from the address bar and the history.
				u := *r.URL
				v := u.Query()
				v.Del("token")
				u.RawQuery = v.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
			tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if tok != "" && httpx.TokenMatches(h.token, strings.TrimSpace(tok)) {
				next(w, r)
				return
			}
			if c, err := r.Cookie(tokenCookie); tok == "" && err == nil && httpx.TokenMatches(h.session, c.Value) {
				next(w, r)
				return
			}
		}
		if h.in.LocalSink() && directLoopback(r) {
			next(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="snippetd"`)
		msg := "the inspector needs Authorization: Bearer <SNIPPETD_API_TOKEN> (or ?token=)"
		if h.token == "" {
			msg = "the inspector is open only on loopback in local-sink mode; set SNIPPETD_API_TOKEN to reach it otherwise"
		}
		httpx.Error(w, r, h.logger, apperr.Errorf(apperr.EUNAUTHORIZED, "%s", msg))
	}
}

// directLoopback reports whether r came from this machine and not through
// a reverse proxy (which would make every client look local).
func directLoopback(r *http.Request) bool {
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && loopbackHost(r.Host)
}

// loopbackHost reports whether a Host header names this machine's loopback
// interface. A loopback socket alone is not enough: a DNS-rebinding page
// reaches 127.0.0.1 under its own host name, and a reverse proxy on the same
// machine that adds no forwarding header passes the public host name.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sessionValue is the inspector cookie's value for token: a keyed digest,
// so the cookie (in a browser's storage, or a log of Cookie headers) is
// not the API token, which also writes orders and catalog.
func sessionValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("snippetd inspector session v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// viaHTTPS reports whether the browser reached the server over TLS: the
// connection itself, or a TLS-terminating proxy that says so. Believing
// the header from anyone is safe here: it can only make the cookie
// stricter (Secure), never weaker.
func viaHTTPS(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	f := strings.ToLower(r.Header.Get("Forwarded"))
	return strings.Contains(f, "proto=https")
}

// filterOf reads the filter of the query string.
func filterOf(r *http.Request) (Filter, error) {
	q := r.URL.Query()
	f := Filter{Metric: q.Get("metric"), State: q.Get("state"), Source: q.Get("source"), Profile: q.Get("profile")}
	if f.State != "" && !slices.Contains(States, f.State) {
		return f, apperr.FieldErrorf("state", "must be one of %s", strings.Join(States, ", "))
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return f, apperr.FieldErrorf("limit", "must be a whole number from 1 to 1000")
		}
		f.Limit = n
	}
	return f, nil
}

// pageContext returns a context with a fresh CSP nonce and sets the
// inspector's Content-Security-Policy (scripts and styles only with the
// nonce, connections only to this origin): the pages show payloads a
// browser sent, which must never run as script.
func pageContext(w http.ResponseWriter, r *http.Request) context.Context {
	var b [16]byte
	rand.Read(b[:])
	nonce := base64.RawStdEncoding.EncodeToString(b[:])
	w.Header().Set("Content-Security-Policy", fmt.Sprintf("default-src 'self'; script-src 'nonce-%s'; style-src 'nonce-%s'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'", nonce, nonce))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	return templ.WithNonce(r.Context(), nonce)
}

// handleList serves GET /debug/events: the latest events as an HTML page,
// as JSON (Accept: application/json), or as the table rows only
// (?fragment=rows, which the page's live updates fetch). Query: metric,
// state, source, profile, limit.
func (h *Handler) handleList(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r)
	if err != nil {
		httpx.Error(w, r, h.logger, err)
		return
	}
	events, err := h.in.List(r.Context(), f)
	if err != nil {
		httpx.Error(w, r, h.logger, err)
		return
	}
	switch {
	case httpx.WantsJSON(r.Header.Get("Accept")):
		writeJSON(w, http.StatusOK, map[string]any{"local_sink": h.in.LocalSink(), "delivery": h.in.Delivery(r.Context()), "events": nonNil(events)})
	case r.URL.Query().Get("fragment") == "rows":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		Rows(events).Render(r.Context(), w)
	default:
		ctx := pageContext(w, r)
		v := PageView{Filter: f, Events: events, LocalSink: h.in.LocalSink(), Query: FilterQuery(f), Delivery: h.in.Delivery(r.Context())}
		if h.in.Sink != nil {
			v.SinkRequests = h.in.Sink.Len()
		}
		h.renderPage(w, r, ctx, Page(v))
	}
}

// handleEvent serves GET /debug/events/{id}: one event with its payload,
// attempts, Klaviyo's last response and full JSON:API request, as HTML or
// JSON.
func (h *Handler) handleEvent(w http.ResponseWriter, r *http.Request) {
	e, req, err := h.in.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Error(w, r, h.logger, err)
		return
	}
	if httpx.WantsJSON(r.Header.Get("Accept")) {
		writeJSON(w, http.StatusOK, map[string]any{"event": e, "request": req})
		return
	}
	ctx := pageContext(w, r)
	h.renderPage(w, r, ctx, Detail(DetailView{Event: e, Request: req, LocalSink: h.in.LocalSink()}))
}

// handleStream serves GET /debug/events/stream: server-sent events. Each
// time the filtered list changes it sends "event: events" with the list as
// JSON; a comment line every 15s keeps proxies from closing the
// connection. The outbox is polled (other instances and the delivery loop
// write there); ring changes are sent at once. The stream ends when the
// request's context does, which the server cancels on shutdown.
func (h *Handler) handleStream(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r)
	if err != nil {
		httpx.Error(w, r, h.logger, err)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's WriteTimeout
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	ticker := time.NewTicker(h.poll)
	defer ticker.Stop()
	var last []byte
	lastWrite := time.Now()
	var changed <-chan struct{}
	for {
		if h.in.Ring != nil {
			changed = h.in.Ring.Changed()
		}
		events, err := h.in.List(r.Context(), f)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			h.logger.Warn("inspector stream", "err", err)
		} else if b, _ := json.Marshal(nonNil(events)); !bytes.Equal(b, last) {
			last = b
			if _, err := fmt.Fprintf(w, "event: events\ndata: %s\n\n", b); err != nil {
				return
			}
			rc.Flush()
			lastWrite = time.Now()
		} else if time.Since(lastWrite) > 15*time.Second {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			rc.Flush()
			lastWrite = time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-ticker.C:
		case <-changed:
		}
	}
}

// nonNil makes an empty list encode as [] rather than null, which the
// page's script and API clients can iterate.
func nonNil(e []Event) []Event {
	if e == nil {
		return []Event{}
	}
	return e
}

// renderPage writes a templ page in full or, when rendering fails, the
// error funnel's answer instead of half a page.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, ctx context.Context, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		httpx.Error(w, r, h.logger, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
