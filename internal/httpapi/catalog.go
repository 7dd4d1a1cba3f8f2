package httpapi

import (
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/strictjson"
)

// handleCatalogJSON serves GET /catalog.json[?part=N]: Klaviyo's custom
// catalog feed as a JSON array.
func (s *Server) handleCatalogJSON(w http.ResponseWriter, r *http.Request) {
	s.serveCatalogFeed(w, r, catalog.JSON)
}

// handleCatalogXML serves GET /catalog.xml[?part=N]: the same feed as
// <Products><Product>...</Product></Products>.
func (s *Server) handleCatalogXML(w http.ResponseWriter, r *http.Request) {
	s.serveCatalogFeed(w, r, catalog.XML)
}

// feedSnapshot acquires the catalog's current snapshot for a feed route,
// or says why there is none: no catalog (404), feeds off in API mode, or
// not loaded yet (503). The caller releases it.
func (s *Server) feedSnapshot() (*catalog.Snapshot, func(), error) {
	if s.Catalog == nil {
		return nil, nil, apperr.Errorf(apperr.ENOTFOUND, "no catalog is configured")
	}
	if s.Catalog.Mode() != catalog.ModeFeed {
		return nil, nil, catalog.ErrFeedDisabled
	}
	snap, release := s.Catalog.Acquire()
	if snap == nil {
		release()
		return nil, nil, apperr.Errorf(apperr.EUNAVAILABLE, "the catalog is not loaded")
	}
	return snap, release, nil
}

// serveCatalogFeed streams one feed document from the current snapshot
// with an ETag and Last-Modified (answering conditional requests with
// 304), gzip when the client accepts it, and an exact Content-Length
// otherwise. Without ?part it serves the whole feed; ?part=N serves part N
// of a feed split to stay under the part size (see /catalog/index.json).
func (s *Server) serveCatalogFeed(w http.ResponseWriter, r *http.Request, f catalog.Format) {
	snap, release, err := s.feedSnapshot()
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	defer release()
	part := 0
	if v := r.URL.Query().Get("part"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			httpx.Error(w, r, s.Logger, &apperr.Error{Code: apperr.EBADREQUEST, Field: "part", Message: "must be a part number starting at 1"})
			return
		}
		if parts := len(snap.Parts(f)); n > parts {
			httpx.Error(w, r, s.Logger, &apperr.Error{Code: apperr.ENOTFOUND, Field: "part", Message: "the feed has " + strconv.Itoa(parts) + " part(s); see /catalog/index.json"})
			return
		}
		part = n
	}
	gz := acceptsGzip(r)
	h := w.Header()
	h.Set("Content-Type", f.ContentType())
	h.Set("ETag", snap.ETag(f, part, gz))
	h.Set("Vary", "Accept-Encoding")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	modified := snap.Modified()
	if !modified.IsZero() {
		h.Set("Last-Modified", modified.Format(http.TimeFormat))
	}
	if notModified(r, h.Get("ETag"), modified) {
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if gz {
		h.Set("Content-Encoding", "gzip")
	} else {
		h.Set("Content-Length", strconv.FormatInt(snap.Size(f, part), 10))
	}
	if r.Method == http.MethodHead {
		return
	}
	out := &deadlineWriter{w: w, rc: http.NewResponseController(w), extend: time.Minute}
	if gz {
		zw := gzipPool.Get().(*gzip.Writer)
		zw.Reset(out)
		if err = snap.Write(zw, f, part); err == nil {
			err = zw.Close()
		}
		gzipPool.Put(zw)
	} else {
		err = snap.Write(out, f, part)
	}
	if err != nil {
		// The status is already sent: abort the connection so the client
		// sees a truncated response instead of a short feed.
		s.Logger.Warn("catalog feed aborted", "format", f, "part", part, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// gzipPool reuses gzip writers (each holds about 800 KB of state).
// BestSpeed: feeds reach hundreds of megabytes, and on a small machine the
// default level costs several times the CPU for a few percent of size.
var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// acceptsGzip reports whether Accept-Encoding allows gzip (q > 0).
func acceptsGzip(r *http.Request) bool {
	for _, ae := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(ae, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

// notModified evaluates If-None-Match (weak comparison, as RFC 9110 asks
// for GET) and, only when that is absent, If-Modified-Since.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == etag {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !modified.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !modified.After(t) {
			return true
		}
	}
	return false
}

// deadlineWriter pushes the connection's write deadline forward as the
// feed streams, so a large feed is not cut by the server's WriteTimeout
// while a stalled client still is.
type deadlineWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	extend  time.Duration
	pending int
	started bool
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if !d.started || d.pending >= 1<<20 {
		d.rc.SetWriteDeadline(time.Now().Add(d.extend))
		d.started, d.pending = true, 0
	}
	n, err := d.w.Write(p)
	d.pending += n
	return n, err
}

// catalogIndex is the body of GET /catalog/index.json.
type catalogIndex struct {
	Products  int            `json:"products"`
	Modified  time.Time      `json:"modified,omitzero"`
	PartBytes int64          `json:"part_bytes"`
	JSON      []catalogPartV `json:"json"`
	XML       []catalogPartV `json:"xml"`
	Note      string         `json:"note"`
}

// catalogPartV is one part with the path that serves it.
type catalogPartV struct {
	catalog.Part
	URL  string `json:"url"`
	ETag string `json:"etag"`
}

// handleCatalogIndex serves GET /catalog/index.json: the parts of each
// feed format, with their paths, product counts and sizes. A catalog that
// fits the part size has one part per format (the same bytes as the
// unsplit feed); a larger one lists each part, which Klaviyo reads as
// separate feeds.
func (s *Server) handleCatalogIndex(w http.ResponseWriter, r *http.Request) {
	snap, release, err := s.feedSnapshot()
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	defer release()
	idx := catalogIndex{Products: snap.Count(), Modified: snap.Modified(), PartBytes: s.Catalog.PartBytes(),
		Note: "Klaviyo reads at most 100 MB per feed: when a format has several parts, add each part's URL as its own custom catalog feed."}
	for _, f := range catalog.Formats {
		var list []catalogPartV
		for _, p := range snap.Parts(f) {
			list = append(list, catalogPartV{Part: p,
				URL:  "/catalog." + f.String() + "?part=" + strconv.Itoa(p.Number),
				ETag: snap.ETag(f, p.Number, false)})
		}
		if f == catalog.JSON {
			idx.JSON = list
		} else {
			idx.XML = list
		}
	}
	writeCatalogJSON(w, http.StatusOK, idx)
}

// handleCatalogProducts serves PUT /v1/catalog/products (replace every
// product with the body's array) and PATCH /v1/catalog/products (insert or
// update the body's products by id), behind the bearer token. The whole
// body is validated before anything is written: a product the feed could
// not serve is answered 422 naming it, such as "[3].image_url".
func (s *Server) handleCatalogProducts(w http.ResponseWriter, r *http.Request) {
	if s.Catalog == nil {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no catalog is configured"))
		return
	}
	limit := s.CatalogMaxBodyBytes
	if limit <= 0 {
		limit = 32 << 20
	}
	body, err := httpx.ReadBody(w, r, limit, "application/json")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	ps, err := decodeProducts(body)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	if ps == nil {
		httpx.Error(w, r, s.Logger, &apperr.Error{Code: apperr.EBADREQUEST, Message: "body must be a JSON array of products"})
		return
	}
	body = nil
	if r.Method == http.MethodPut {
		err = s.Catalog.PutProducts(r.Context(), ps)
	} else {
		err = s.Catalog.PatchProducts(r.Context(), ps)
	}
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	rep := s.Catalog.Problems()
	writeCatalogJSON(w, http.StatusOK, map[string]int{"written": len(ps), "products": rep.Products})
}

// handleCatalogProblems serves GET /v1/catalog/problems: products left out
// of the feed (missing fields, duplicate ids, invalid values) with counts
// and ids, the last load error, and the most frequent product ids seen in
// events but absent from the catalog; behind the bearer token.
func (s *Server) handleCatalogProblems(w http.ResponseWriter, r *http.Request) {
	if s.Catalog == nil {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no catalog is configured"))
		return
	}
	writeCatalogJSON(w, http.StatusOK, s.Catalog.Problems())
}

// writeCatalogJSON writes v as a JSON response with status.
func writeCatalogJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decodeProducts decodes a JSON array of products, each strictly on its
// own so that a malformed array is refused before any product is decoded:
// a decode error inside a product names its full path ("[0].colour"), as
// every other API does, and an error in the array itself (malformed or
// truncated JSON, not an array) names none. Members shop.Product does not
// know are kept as the product's custom fields, which the catalog checks
// (a nested value is 422 naming it, "[0].colour").
func decodeProducts(body []byte) ([]catalog.Product, error) {
	var raw []jsontext.Value
	if err := strictjson.Decode(body, &raw); err != nil {
		return nil, &apperr.Error{Code: apperr.ErrorCode(err), Message: apperr.ErrorMessage(err)}
	}
	if raw == nil {
		return nil, nil
	}
	ps := make([]catalog.Product, len(raw))
	for i, v := range raw {
		if err := strictjson.DecodeWith(v, &ps[i], catalog.DecodeOptions); err != nil {
			return nil, apperr.PrefixField("["+strconv.Itoa(i)+"]", err)
		}
	}
	return ps, nil
}
