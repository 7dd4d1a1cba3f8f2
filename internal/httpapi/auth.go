package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
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

// tokenOK reports whether tok is the configured API token. Both sides are
// hashed first so that the comparison takes the same time whatever the
// length or content of tok: a byte-wise constant-time compare of unequal
// lengths returns early and leaks the token's length.
func (s *Server) tokenOK(tok string) bool {
	if s.APIToken == "" || tok == "" {
		return false
	}
	a := sha256.Sum256([]byte(tok))
	b := sha256.Sum256([]byte(s.APIToken))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
