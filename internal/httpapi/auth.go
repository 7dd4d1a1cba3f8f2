package httpapi

import (
	"net/http"
	"strings"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
)

// requireToken guards a write API with `Authorization: Bearer <APIToken>`.
func (s *Server) requireToken(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.APIToken == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="snippetd"`)
			httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.EUNAUTHORIZED, "the write API is disabled: set SNIPPETD_API_TOKEN"))
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.tokenOK(strings.TrimSpace(tok)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="snippetd"`)
			httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.EUNAUTHORIZED, "missing or wrong bearer token"))
			return
		}
		h(w, r)
	})
}

// tokenOK reports whether tok is the configured API token.
func (s *Server) tokenOK(tok string) bool { return httpx.TokenMatches(s.APIToken, tok) }
