package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/web"
)

func TestAssetsRoute(t *testing.T) {
	h, err := web.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	b := h.Get(web.Features{})
	s := NewServer()
	s.Helpers = h
	tests := []struct {
		method, path string
		status       int
		contentType  string
	}{
		{"GET", b.Path, 200, "text/javascript; charset=utf-8"},
		{"HEAD", b.Path, 200, "text/javascript; charset=utf-8"},
		{"GET", b.MapPath, 200, "application/json; charset=utf-8"},
		{"GET", "/assets/helper.ffffffffffffffff.js", 404, "application/json"},
		{"POST", b.Path, 405, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if tt.status == 200 && rec.Header().Get("Cache-Control") != web.CacheControl {
				t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
		})
	}
}
