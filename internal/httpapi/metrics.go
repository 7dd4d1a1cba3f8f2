package httpapi

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/metrics"
	"github.com/snippetd/snippetd/internal/render"
)

// handleMetrics serves GET /metrics: every snippetd metric in the
// Prometheus text format (see package metrics). 404 when the server has no
// Metrics.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.Metrics == nil {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "metrics are not enabled"))
		return
	}
	s.Metrics.Handler().ServeHTTP(w, r)
}

// renderHooks returns the render observer: the server's Metrics, or Nop.
func (s *Server) renderHooks() metrics.Renders {
	if s.Metrics == nil {
		return metrics.Nop{}
	}
	return s.Metrics
}

// observeRenders wraps a render handler to count each request by snippet
// ("batch" for POST /v1/render, "unknown" for names that are not snippets)
// and final status, and to time it.
func (s *Server) observeRenders(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		name, ok := mux.Vars(r)["snippet"]
		switch {
		case !ok:
			name = "batch"
		case !render.Known(name):
			name = "unknown"
		}
		s.renderHooks().ObserveRender(name, sw.status, time.Since(start))
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
