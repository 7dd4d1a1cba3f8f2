package httpapi

import (
	"net/http"

	"github.com/snippetd/snippetd/internal/httpx"
)

// routes registers every route of the server. Keep this the one place
// where paths are named.
func (s *Server) routes() {
	r := s.router
	r.HandleFunc("/healthz", s.handleHealthz).Methods("GET", "HEAD")
	r.HandleFunc("/readyz", s.handleReadyz).Methods("GET", "HEAD")

	// Catalog (catalog package): Klaviyo's custom catalog feed, its part
	// index, and the product API.
	r.HandleFunc("/catalog.json", s.handleCatalogJSON).Methods("GET", "HEAD")
	r.HandleFunc("/catalog.xml", s.handleCatalogXML).Methods("GET", "HEAD")
	r.HandleFunc("/catalog/index.json", s.handleCatalogIndex).Methods("GET", "HEAD")
	r.Handle("/v1/catalog/products", s.requireToken(s.handleCatalogProducts)).Methods("PUT", "PATCH")
	r.Handle("/v1/catalog/problems", s.requireToken(s.handleCatalogProblems)).Methods("GET")
	// Snippet render API: partials as HTML or JSON, and the
	// OpenAPI document describing it.
	r.HandleFunc("/v1/render/{snippet}", s.observeRenders(s.handleRender)).Methods("POST")
	r.HandleFunc("/v1/render", s.observeRenders(s.handleRenderBatch)).Methods("POST")
	r.HandleFunc("/v1/openapi.json", s.handleOpenAPI).Methods("GET", "HEAD")

	// Orders API: server-side order events, bearer token.
	r.Handle("/v1/orders", s.requireToken(s.handleOrderCreate)).Methods("POST")
	r.Handle("/v1/orders/{id}/{action:fulfilled|cancelled|refunded}", s.requireToken(s.handleOrderAction)).Methods("POST")
	r.Handle("/v1/orders/{id}", s.requireToken(s.handleOrderGet)).Methods("GET")

	// Browser helper (web): content-hashed scripts and their source maps.
	r.PathPrefix("/assets/").HandlerFunc(s.handleAssets).Methods("GET", "HEAD")

	// Observability: Prometheus metrics.
	r.HandleFunc("/metrics", s.handleMetrics).Methods("GET", "HEAD")
	// Event inspector: bearer token, or loopback in local-sink mode.
	r.HandleFunc("/debug/events", s.requireInspector(s.handleInspector)).Methods("GET", "HEAD")
	r.HandleFunc("/debug/events/stream", s.requireInspector(s.handleInspectorStream)).Methods("GET")
	r.HandleFunc("/debug/events/{id}", s.requireInspector(s.handleInspectorEvent)).Methods("GET", "HEAD")
	// Demo shop: on with SNIPPETD_DEMO, 404 otherwise.
	r.Handle("/demo", http.RedirectHandler("/demo/", http.StatusMovedPermanently)).Methods("GET", "HEAD")
	r.HandleFunc("/demo/", s.demoOn(s.handleDemoHome)).Methods("GET", "HEAD")
	r.HandleFunc("/demo/products/{id}", s.demoOn(s.handleDemoProduct)).Methods("GET", "HEAD")
	r.HandleFunc("/demo/cart", s.demoOn(s.handleDemoCart)).Methods("GET", "HEAD")
	r.HandleFunc("/demo/cart/add", s.demoOn(s.handleDemoCartChange)).Methods("POST")
	r.HandleFunc("/demo/cart/remove", s.demoOn(s.handleDemoCartChange)).Methods("POST")
	r.HandleFunc("/demo/checkout", s.demoOn(s.handleDemoCheckout)).Methods("GET", "HEAD")
	r.HandleFunc("/demo/checkout", s.demoOn(s.handleDemoPlaceOrder)).Methods("POST")
	r.HandleFunc("/demo/orders/{id}", s.demoOn(s.handleDemoOrder)).Methods("GET", "HEAD")
	r.HandleFunc("/demo/mode", s.demoOn(s.handleDemoMode)).Methods("GET")
	r.HandleFunc("/demo/img/{file}", s.demoOn(s.handleDemoImage)).Methods("GET", "HEAD")
	r.HandleFunc("/demo/static/{file}", s.demoOn(s.handleDemoStatic)).Methods("GET", "HEAD")
	r.HandleFunc("/demo/onsite", s.demoOn(s.handleDemoOnsite)).Methods("POST")

	r.NotFoundHandler = httpx.NotFound(s.Logger)
	r.MethodNotAllowedHandler = httpx.MethodNotAllowed(s.Logger)
}
