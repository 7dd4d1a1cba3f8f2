package httpapi

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/gorilla/mux"
)

// openAPIProxy describes the first-party proxy's operations by path
// relative to its prefix. They are merged into the served document only
// when the proxy is mounted, under its configured prefix, so that the
// document lists exactly the routes this server answers.
//
//go:embed openapi_proxy.json
var openAPIProxy []byte

// proxyDocs caches the merged document per server: the routes do not
// change once the server serves.
var proxyDocs sync.Map // *Server → []byte

// openAPIDocument is the served OpenAPI document: openapi.json, plus the
// proxy's operations when ProxyPrefix is set, each with only the methods
// the router really answers (klaviyo.js is not proxied without a public
// key).
func (s *Server) openAPIDocument() []byte {
	if s.ProxyPrefix == "" {
		return openAPI
	}
	if b, ok := proxyDocs.Load(s); ok {
		return b.([]byte)
	}
	b, err := mergeProxyDoc(openAPI, openAPIProxy, s.ProxyPrefix, s.router)
	if err != nil {
		// Both documents are embedded and tested; a failure here is a
		// build defect, and the proxy-less document is still true.
		s.Logger.Error("openapi: cannot merge the proxy's operations", "err", err)
		return openAPI
	}
	proxyDocs.Store(s, b)
	return b
}

func mergeProxyDoc(base, proxyDoc []byte, prefix string, router *mux.Router) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(base, &doc); err != nil {
		return nil, err
	}
	var px struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(proxyDoc, &px); err != nil {
		return nil, err
	}
	paths, _ := doc["paths"].(map[string]any)
	rel := make([]string, 0, len(px.Paths))
	for p := range px.Paths {
		rel = append(rel, p)
	}
	sort.Strings(rel)
	for _, p := range rel {
		item := map[string]any{}
		for method, op := range px.Paths[p] {
			req, err := http.NewRequest(strings.ToUpper(method), prefix+p, nil)
			if err != nil {
				return nil, err
			}
			var m mux.RouteMatch
			if router.Match(req, &m) && m.MatchErr == nil {
				item[method] = op
			}
		}
		if len(item) > 0 {
			paths[prefix+p] = item
		}
	}
	return json.Marshal(doc)
}
