package httpapi

import (
	"net/http"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/web"
)

// handleAssets serves GET /assets/helper.<hash>.js and its .map: every
// build of the browser helper, content-hashed and cached for a year (see
// web.Helpers.ServeHTTP). Any other /assets/ path is a JSON 404.
func (s *Server) handleAssets(w http.ResponseWriter, r *http.Request) {
	h, err := web.Default()
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	if !h.Has(r.URL.Path) {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no such asset"))
		return
	}
	h.ServeHTTP(w, r)
}
