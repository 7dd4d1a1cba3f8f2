package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

// Routes on First are tried before the server's own and otherwise behave
// like them: a method they do not take is a JSON 405, and paths they do
// not hold still reach the server's routes or its JSON 404.
func TestFirstRoutes(t *testing.T) {
	s := NewServer()
	s.First().HandleFunc("/s/e", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }).Methods("POST")
	for _, tt := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"POST", "/s/e", http.StatusAccepted, ""},
		{"GET", "/s/e", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"GET", "/healthz", http.StatusOK, ""},
		{"POST", "/healthz", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"GET", "/s/nothing", http.StatusNotFound, "not_found"},
	} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
		if w.Code != tt.status {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, w.Code, w.Body, tt.status)
			continue
		}
		if tt.code == "" {
			continue
		}
		var body struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != tt.code {
			t.Errorf("%s %s: body %s, want error code %s", tt.method, tt.path, w.Body, tt.code)
		}
	}
}

// TestFirstRoutesExact checks the exact-match table ServeHTTP consults
// before the router: First's literal routes answer without the router
// (no route in the request's context), other methods and unclean paths
// still get the router's 405 and redirect, and routes with variables or
// queries are left to the router.
func TestFirstRoutesExact(t *testing.T) {
	s := NewServer()
	viaRouter := func(w http.ResponseWriter, r *http.Request) {
		if mux.CurrentRoute(r) != nil {
			w.Header().Set("X-Router", "yes")
		}
		w.WriteHeader(http.StatusAccepted)
	}
	s.First().HandleFunc("/s/e", viaRouter).Methods("POST")
	s.First().HandleFunc("/s/k.js", viaRouter).Methods("GET", "HEAD")
	s.First().HandleFunc("/s/v/{id}", viaRouter).Methods("POST")
	s.First().HandleFunc("/s/q", viaRouter).Methods("POST").Queries("a", "{a}")
	for _, tt := range []struct {
		method, path string
		status       int
		router       bool
	}{
		{"POST", "/s/e", http.StatusAccepted, false},
		{"GET", "/s/k.js", http.StatusAccepted, false},
		{"HEAD", "/s/k.js", http.StatusAccepted, false},
		{"GET", "/s/e", http.StatusMethodNotAllowed, false},
		{"POST", "/s/./e", http.StatusMovedPermanently, false},
		{"POST", "/s/v/7", http.StatusAccepted, true},
		{"POST", "/s/q?a=1", http.StatusAccepted, true},
		{"GET", "/healthz", http.StatusOK, false},
	} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
		if w.Code != tt.status {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, w.Code, w.Body, tt.status)
		}
		if got := w.Header().Get("X-Router") == "yes"; tt.status == http.StatusAccepted && got != tt.router {
			t.Errorf("%s %s: went through the router: %v, want %v", tt.method, tt.path, got, tt.router)
		}
	}
	if len(s.exact) != 3 {
		t.Errorf("exact routes: %v, want POST /s/e, GET and HEAD /s/k.js", s.exact)
	}
}

// BenchmarkFirstRoute measures dispatching a proxy-like POST to a First
// route: through the exact-match table (ServeHTTP) and, as the baseline,
// through the router alone (what ServeHTTP did before the table).
//
//	go test ./httpapi/ -run '^$' -bench FirstRoute -benchmem
func BenchmarkFirstRoute(b *testing.B) {
	s := NewServer()
	h := func(w http.ResponseWriter, r *http.Request) {}
	for _, p := range []string{"/s/e", "/s/i", "/s/forget"} {
		s.First().HandleFunc(p, h).Methods("POST")
	}
	r := httptest.NewRequest("POST", "/s/e", nil)
	w := httptest.NewRecorder()
	b.Run("exact", func(b *testing.B) {
		for b.Loop() {
			s.ServeHTTP(w, r)
		}
	})
	b.Run("router", func(b *testing.B) {
		for b.Loop() {
			s.router.ServeHTTP(w, r)
		}
	})
}
