package httpapi

import (
	"net/http"

	"github.com/snippetd/snippetd/internal/apperr"
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

	// Marketing consent, profiles and back in stock (consent.go).
	r.Handle("/v1/subscriptions", s.requireToken(s.handleSubscriptions)).Methods("POST")
	r.Handle("/v1/unsubscriptions", s.requireToken(s.handleUnsubscriptions)).Methods("POST")
	r.Handle("/v1/profiles", s.requireToken(s.handleProfileUpsert)).Methods("POST")
	r.Handle("/v1/profiles/erase", s.requireToken(s.handleProfileErase)).Methods("POST")
	r.Handle("/v1/back-in-stock", s.requireToken(s.handleBackInStock)).Methods("POST")

	// Cart restore links (carts.go): the email's link, and the carts API.
	r.HandleFunc("/r/{token}", s.handleCartRedirect).Methods("GET", "HEAD")
	r.Handle("/v1/carts/restore/{token}", s.requireToken(s.handleCartRestoreLines)).Methods("GET")
	r.Handle("/v1/carts/{id}", s.requireToken(s.handleCartPut)).Methods("PUT")

	// Browser helper (web): content-hashed scripts and their source maps.
	r.PathPrefix("/assets/").HandlerFunc(s.handleAssets).Methods("GET", "HEAD")

	// Observability: Prometheus metrics.
	r.HandleFunc("/metrics", s.handleMetrics).Methods("GET", "HEAD")
	// Event inspector (inspect.Handler routes and guards its own pages).
	r.Path("/debug/events").Methods(http.MethodGet, http.MethodHead).HandlerFunc(s.handleInspector)
	r.PathPrefix("/debug/events/").Methods(http.MethodGet, http.MethodHead).HandlerFunc(s.handleInspector)
	// Demo shop (on with SNIPPETD_DEMO), which routes its own pages.
	r.Path("/demo").HandlerFunc(s.handleDemo)
	r.PathPrefix("/demo/").HandlerFunc(s.handleDemo)

	// Read Logger per request: it is set after NewServer registers this.
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.NotFound(s.Logger).ServeHTTP(w, r)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.MethodNotAllowed(s.Logger).ServeHTTP(w, r)
	})
}

// handleInspector serves /debug/events and below through Inspector, or
// answers 404 when the server has none.
func (s *Server) handleInspector(w http.ResponseWriter, r *http.Request) {
	if s.Inspector == nil {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "the inspector is not enabled"))
		return
	}
	s.Inspector.ServeHTTP(w, r)
}

// handleDemo serves /demo and below through Demo, or answers 404 when the
// demo shop is off.
func (s *Server) handleDemo(w http.ResponseWriter, r *http.Request) {
	if s.Demo == nil {
		httpx.Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "the demo shop is off (SNIPPETD_DEMO=on turns it on)"))
		return
	}
	s.Demo.ServeHTTP(w, r)
}
