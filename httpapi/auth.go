package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/snippetd/snippetd"
)

// authorize checks the request's bearer token against APIToken in
// constant time (both sides are hashed first, so not even the length
// leaks). With no token configured the write APIs are off.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) error {
	if s.APIToken == "" {
		return snippetd.Errorf(snippetd.EFORBIDDEN, "this API is off: set SNIPPETD_API_TOKEN to enable it")
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	want := sha256.Sum256([]byte(s.APIToken))
	have := sha256.Sum256([]byte(strings.TrimSpace(got)))
	if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="snippetd"`)
		return snippetd.Errorf(snippetd.EUNAUTHORIZED, "missing or wrong bearer token (Authorization: Bearer <SNIPPETD_API_TOKEN>)")
	}
	return nil
}
