package proxy

import (
	"net/http"
	"testing"
)

// TestOriginNullFallsBackToReferer: a sandboxed frame or a privacy mode
// sends "Origin: null"; the proxy then judges the request by its Referer,
// as it does when Origin is absent, instead of refusing every such shopper.
func TestOriginNullFallsBackToReferer(t *testing.T) {
	h := newHarness(t, Options{})
	for _, c := range []struct {
		name, referer string
		want          int
	}{
		{"allowed referer", shopOrigin + "/p/mug", http.StatusAccepted},
		{"other referer", "https://evil.example/p/mug", http.StatusForbidden},
		{"no referer", "", http.StatusForbidden},
	} {
		w := h.do(req{path: "/s/e", body: viewed, cookies: []*http.Cookie{kxCookie("Ab9x.ABC123")},
			headers: map[string]string{"Origin": "null", "Referer": c.referer}})
		if w.Code != c.want {
			t.Errorf("Origin: null, %s: %d, want %d: %s", c.name, w.Code, c.want, w.Body)
		}
	}
}
