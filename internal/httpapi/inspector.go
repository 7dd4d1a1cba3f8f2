package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/render"
)

// inspectorCookie carries the API token for browsers, which cannot add an
// Authorization header to a page load or an EventSource.
const inspectorCookie = "snippetd_debug"

// requireInspector guards the inspector: a bearer SNIPPETD_API_TOKEN (or
// the cookie set by ?token=), or, in local-sink mode where nothing real is
// at stake, any request from a loopback address that did not come through
// a proxy.
func (s *Server) requireInspector(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Inspector == nil {
			httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "the inspector is not enabled"))
			return
		}
		if s.APIToken != "" {
			if q := r.URL.Query().Get("token"); q != "" && s.tokenOK(q) {
				http.SetCookie(w, &http.Cookie{Name: inspectorCookie, Value: q, Path: "/debug/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
				u := *r.URL
				v := u.Query()
				v.Del("token")
				u.RawQuery = v.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
			tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if c, err := r.Cookie(inspectorCookie); tok == "" && err == nil {
				tok = c.Value
			}
			if s.tokenOK(strings.TrimSpace(tok)) {
				h(w, r)
				return
			}
		}
		if s.Inspector.LocalSink() && directLoopback(r) {
			h(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="snippetd"`)
		msg := "the inspector needs Authorization: Bearer <SNIPPETD_API_TOKEN> (or ?token=)"
		if s.APIToken == "" {
			msg = "the inspector is open only on loopback in local-sink mode; set SNIPPETD_API_TOKEN to reach it otherwise"
		}
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.EUNAUTHORIZED, "%s", msg))
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
	return ip != nil && ip.IsLoopback()
}

// inspectorFilter reads the filter of the query string.
func inspectorFilter(r *http.Request) (inspect.Filter, error) {
	q := r.URL.Query()
	f := inspect.Filter{Metric: q.Get("metric"), State: q.Get("state"), Source: q.Get("source"), Profile: q.Get("profile")}
	if f.State != "" && !contains(inspect.States, f.State) {
		return f, apperr.FieldErrorf("state", "must be one of %s", strings.Join(inspect.States, ", "))
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pageContext returns a context with a fresh CSP nonce and sets the
// inspector's Content-Security-Policy (scripts and styles only with the
// nonce, connections only to this origin).
func pageContext(w http.ResponseWriter, r *http.Request) context.Context {
	var b [16]byte
	rand.Read(b[:])
	nonce := base64.RawStdEncoding.EncodeToString(b[:])
	w.Header().Set("Content-Security-Policy", fmt.Sprintf("default-src 'self'; script-src 'nonce-%s'; style-src 'nonce-%s'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'", nonce, nonce))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	return templ.WithNonce(r.Context(), nonce)
}

// handleInspector serves GET /debug/events: the latest events as an HTML
// page, as JSON (Accept: application/json), or as the table rows only
// (?fragment=rows, which the page's live updates fetch). Query: metric,
// state, source, profile, limit.
func (s *Server) handleInspector(w http.ResponseWriter, r *http.Request) {
	f, err := inspectorFilter(r)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	events, err := s.Inspector.List(r.Context(), f)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	switch {
	case httpx.WantsJSON(r.Header.Get("Accept")):
		writeJSON(w, http.StatusOK, map[string]any{"local_sink": s.Inspector.LocalSink(), "events": nonNilEvents(events)})
	case r.URL.Query().Get("fragment") == "rows":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		inspect.Rows(events).Render(r.Context(), w)
	default:
		ctx := pageContext(w, r)
		v := inspect.PageView{Filter: f, Events: events, LocalSink: s.Inspector.LocalSink(), Query: inspect.FilterQuery(f)}
		if s.Inspector.Sink != nil {
			v.SinkRequests = s.Inspector.Sink.Len()
		}
		s.renderPage(w, r, ctx, inspect.Page(v))
	}
}

// handleInspectorEvent serves GET /debug/events/{id}: one event with its
// payload, attempts, Klaviyo's last response and full JSON:API request, as
// HTML or JSON.
func (s *Server) handleInspectorEvent(w http.ResponseWriter, r *http.Request) {
	e, req, err := s.Inspector.Get(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	if httpx.WantsJSON(r.Header.Get("Accept")) {
		writeJSON(w, http.StatusOK, map[string]any{"event": e, "request": req})
		return
	}
	ctx := pageContext(w, r)
	s.renderPage(w, r, ctx, inspect.Detail(inspect.DetailView{Event: e, Request: req, LocalSink: s.Inspector.LocalSink()}))
}

// handleInspectorStream serves GET /debug/events/stream: server-sent
// events. Each time the filtered list changes it sends "event: events"
// with the list as JSON; a comment line every 15s keeps proxies from
// closing the connection. The outbox is polled every StreamPoll (other
// instances and the delivery loop write there); ring changes are sent at
// once.
func (s *Server) handleInspectorStream(w http.ResponseWriter, r *http.Request) {
	f, err := inspectorFilter(r)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's WriteTimeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	poll := s.StreamPoll
	if poll <= 0 {
		poll = time.Second
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	var last []byte
	lastWrite := time.Now()
	var changed <-chan struct{}
	for {
		if s.Inspector.Ring != nil {
			changed = s.Inspector.Ring.Changed()
		}
		events, err := s.Inspector.List(r.Context(), f)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			s.Logger.Warn("inspector stream", "err", err)
		} else if b, _ := json.Marshal(nonNilEvents(events)); !bytes.Equal(b, last) {
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

func nonNilEvents(e []inspect.Event) []inspect.Event {
	if e == nil {
		return []inspect.Event{}
	}
	return e
}

// renderPage writes a templ page, or the error funnel's answer.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, ctx context.Context, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		httpx.Error(w, r, s.Logger, err)
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

// recordRendered puts the pushes of a render API answer in the
// inspector's ring (source render, state rendered: the storefront's page
// runs them, out of snippetd's sight).
func (s *Server) recordRendered(res render.Result) {
	if s.Inspector == nil || s.Inspector.Ring == nil || len(res.Pushes) == 0 {
		return
	}
	raw := make([]json.RawMessage, len(res.Pushes))
	for i, p := range res.Pushes {
		raw[i] = json.RawMessage(p)
	}
	s.Inspector.Ring.RecordRender("", raw)
}
