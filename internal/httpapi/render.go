package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/a-h/templ"
	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/render"
)

// openAPI is the OpenAPI 3 description of the render API, served as is.
//
//go:embed openapi.json
var openAPI []byte

// renderer returns the snippet renderer configured from the server.
func (s *Server) renderer() render.Renderer {
	rd := render.Renderer{PublicKey: s.PublicKey, Now: s.Now, Helpers: s.Helpers, DefaultCountry: s.DefaultCountry, Currency: s.Currency}
	if s.Metrics != nil {
		rd.Phones = s.Metrics
	}
	if s.PhoneLog != nil {
		rd.PhoneLog = s.PhoneLog
	}
	if s.ProxyPrefix != "" {
		// First-party proxy (package proxy): klaviyo.js from the shop's
		// domain, and the helper in proxy mode.
		rd.KlaviyoJSURL, rd.ProxyEndpoint = s.ProxyPrefix+"k.js", s.ProxyPrefix
	}
	if s.Catalog != nil {
		rd.Observe = s.Catalog.Observe
	}
	if s.CartRestore.Carts != nil {
		rd.Carts = s.CartRestore.Carts // restore links as CheckoutURL
	}
	return rd
}

// handleRender serves POST /v1/render/{snippet}: the body is the snippet's
// request (see render), the answer the partial as text/html, or
// {"html","pushes"} with Accept: application/json.
func (s *Server) handleRender(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["snippet"]
	if !render.Known(name) {
		httpx.Error(w, r, s.Logger, s.renderer().UnknownError(name))
		return
	}
	body, err := httpx.ReadBody(w, r, s.MaxBodyBytes, "application/json")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	ctx, err := nonceContext(r)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	res, err := s.renderer().Render(ctx, name, body)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	s.writeRendered(w, r, res)
}

// handleRenderBatch serves POST /v1/render: {"snippets": [{"type": ...,
// ...}, ...]} rendered into one partial.
func (s *Server) handleRenderBatch(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(w, r, s.MaxBodyBytes, "application/json")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	ctx, err := nonceContext(r)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	res, err := s.renderer().RenderBatch(ctx, body)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	s.writeRendered(w, r, res)
}

// nonceContext returns the request context carrying the CSP nonce of the
// query parameter "nonce", which the partial puts on every script element.
func nonceContext(r *http.Request) (context.Context, error) {
	ctx := r.Context()
	if r.URL.RawQuery == "" {
		return ctx, nil
	}
	n := r.URL.Query().Get("nonce")
	if len(n) > 256 {
		return nil, apperr.FieldErrorf("nonce", "must be at most 256 bytes")
	}
	if n != "" {
		ctx = templ.WithNonce(ctx, n)
	}
	return ctx, nil
}

// handleOpenAPI serves GET /v1/openapi.json.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	doc := s.openAPIDocument()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.Write(doc)
}

// writeRendered answers with the partial, or with its JSON form when the
// client prefers application/json.
func (s *Server) writeRendered(w http.ResponseWriter, r *http.Request, res render.Result) {
	s.recordRendered(res)
	h := w.Header()
	h.Set("Vary", "Accept")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if httpx.WantsJSON(r.Header.Get("Accept")) {
		b := append(res.AppendJSON(nil), '\n')
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(res.HTML)))
	w.Write(res.HTML)
}

// RenderRecorder takes the pushes of a render answer (the inspector's
// ring): the storefront's page runs them out of snippetd's sight, so the
// inspector can only show that they were rendered.
type RenderRecorder interface {
	RecordRender(view string, pushes []json.RawMessage)
}

// recordRendered hands the pushes of a render answer to Rendered.
func (s *Server) recordRendered(res render.Result) {
	if s.Rendered == nil || len(res.Pushes) == 0 {
		return
	}
	raw := make([]json.RawMessage, len(res.Pushes))
	for i, p := range res.Pushes {
		raw[i] = json.RawMessage(p)
	}
	s.Rendered.RecordRender("", raw)
}
