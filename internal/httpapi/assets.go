package httpapi

import (
	"net/http"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
)

// handleAssets serves GET /assets/helper.<hash>.js and its .map: every
// build of the browser helper, content-hashed and cached for a year (see
// web.Helpers.ServeHTTP). Any other /assets/ path is a JSON 404.
func (s *Server) handleAssets(w http.ResponseWriter, r *http.Request) {
	if s.Helpers == nil || !s.Helpers.Has(r.URL.Path) {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no such asset"))
		return
	}
	s.Helpers.ServeHTTP(w, r)
}
