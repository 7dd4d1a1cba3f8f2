package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
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
