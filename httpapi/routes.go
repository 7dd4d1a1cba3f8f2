package httpapi

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
	r.HandleFunc("/v1/catalog/products", s.handleCatalogProducts).Methods("PUT", "PATCH")
	r.HandleFunc("/v1/catalog/problems", s.handleCatalogProblems).Methods("GET")
	// Snippet render API (issue 2): partials as HTML or JSON, and the
	// OpenAPI document describing it.
	r.HandleFunc("/v1/render/{snippet}", s.handleRender).Methods("POST")
	r.HandleFunc("/v1/render", s.handleRenderBatch).Methods("POST")
	r.HandleFunc("/v1/openapi.json", s.handleOpenAPI).Methods("GET", "HEAD")

	// Browser helper (web): content-hashed scripts and their source maps.
	r.PathPrefix("/assets/").HandlerFunc(s.handleAssets).Methods("GET", "HEAD")

	r.NotFoundHandler = http404(s)
	r.MethodNotAllowedHandler = http405(s)
}
