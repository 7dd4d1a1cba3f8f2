package httpapi

// routes registers every route of the server. Keep this the one place
// where paths are named.
func (s *Server) routes() {
	r := s.router
	r.HandleFunc("/healthz", s.handleHealthz).Methods("GET", "HEAD")
	r.HandleFunc("/readyz", s.handleReadyz).Methods("GET", "HEAD")
	// Browser helper (web): content-hashed scripts and their source maps.
	r.PathPrefix("/assets/").HandlerFunc(s.handleAssets).Methods("GET", "HEAD")

	r.NotFoundHandler = http404(s)
	r.MethodNotAllowedHandler = http405(s)
}
