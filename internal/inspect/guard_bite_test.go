package inspect_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/localsink"
)

// TestInspectorGuardEdges: in local-sink mode a loopback peer is trusted
// only when it did not relay the request (each of the three forwarding
// headers a reverse proxy sets closes it), a wrong ?token= neither opens
// the inspector nor sets the cookie, and a wrong cookie is refused.
func TestInspectorGuardEdges(t *testing.T) {
	const local, remote = "127.0.0.1:5555", "203.0.113.9:5555"
	sinkSrv, _ := inspectorHandler(t, localsink.New(0), "")
	liveSrv, _ := inspectorHandler(t, nil, "s3cret")
	for _, hdr := range []map[string]string{
		{"X-Forwarded-For": "203.0.113.9"},
		{"Forwarded": "for=203.0.113.9"},
		{"X-Real-Ip": "203.0.113.9"},
	} {
		if rec := get(t, sinkSrv, "/debug/events", hdr, local); rec.Code != http.StatusUnauthorized {
			t.Errorf("loopback peer relaying %v: %d, want 401", hdr, rec.Code)
		}
	}
	if rec := get(t, sinkSrv, "/debug/events", nil, "[::1]:5555"); rec.Code != http.StatusOK {
		t.Errorf("direct IPv6 loopback peer: %d, want 200", rec.Code)
	}

	rec := get(t, liveSrv, "/debug/events?token=wrong", nil, remote)
	if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Header().Get("Set-Cookie"), "snippetd_debug") {
		t.Errorf("wrong ?token=: %d, Set-Cookie %q; want 401 and no cookie", rec.Code, rec.Header().Get("Set-Cookie"))
	}
	if rec := get(t, liveSrv, "/debug/events", map[string]string{"Cookie": "snippetd_debug=wrong"}, remote); rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong cookie: %d, want 401", rec.Code)
	}
	if rec := get(t, liveSrv, "/debug/events", map[string]string{"Authorization": "Bearer wrong"}, local); rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong bearer from loopback, not in local-sink mode: %d, want 401", rec.Code)
	}
}
