package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequireTokenHeader: the write API opens only to "Authorization:
// Bearer <token>"; the token alone, another scheme or no header is 401
// with a Bearer challenge, and with no token configured the answer says
// the write API is disabled and how to enable it.
func TestRequireTokenHeader(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	on := (&Server{APIToken: "s3cret-token", Logger: logger}).requireToken(ok)
	off := (&Server{Logger: logger}).requireToken(ok)
	for _, tt := range []struct {
		name string
		h    http.Handler
		auth string
		code int
		body string
	}{
		{"bearer", on, "Bearer s3cret-token", http.StatusNoContent, ""},
		{"bearer, spaces", on, "Bearer  s3cret-token ", http.StatusNoContent, ""},
		{"the token alone", on, "s3cret-token", http.StatusUnauthorized, "missing or wrong bearer token"},
		{"basic scheme", on, "Basic s3cret-token", http.StatusUnauthorized, "missing or wrong bearer token"},
		{"no header", on, "", http.StatusUnauthorized, "missing or wrong bearer token"},
		{"disabled", off, "Bearer s3cret-token", http.StatusUnauthorized, "SNIPPETD_API_TOKEN"},
		{"disabled, empty bearer", off, "Bearer ", http.StatusUnauthorized, "SNIPPETD_API_TOKEN"},
	} {
		req := httptest.NewRequest("POST", "/v1/orders", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		tt.h.ServeHTTP(rec, req)
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s: %d %s, want %d containing %q", tt.name, rec.Code, rec.Body, tt.code, tt.body)
		}
		if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no Bearer challenge", tt.name)
		}
	}
}
