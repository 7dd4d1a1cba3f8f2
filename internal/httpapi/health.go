package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/version"
)

// handleHealthz serves GET /healthz: 200 while the process runs, with the
// version, so that a deploy can check which release answers.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok snippetd " + version.String() + "\n"))
}

// handleReadyz serves GET /readyz: 200 when the server accepts work and
// every ReadyCheck passes, 503 otherwise (for load balancers).
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.EUNAVAILABLE, "shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	for _, check := range s.ReadyChecks {
		if err := check(ctx); err != nil {
			s.Logger.Warn("readiness check failed", "err", err)
			msg := "not ready"
			if e, ok := apperr.As(err); ok && e.Code == apperr.EUNAVAILABLE && e.Message != "" {
				// A check's client-safe reason, such as which setting
				// holds the private key Klaviyo refuses.
				msg += ": " + e.Message
			}
			httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.EUNAVAILABLE, "%s", msg))
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ready\n"))
}
