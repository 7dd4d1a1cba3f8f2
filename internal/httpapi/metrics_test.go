package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/metrics"
)

func TestMetricsCountRendersByStatus(t *testing.T) {
	s := httpapi.NewServer()
	s.PublicKey = "AbC123"
	s.Metrics = metrics.New(nil)
	do := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	for _, c := range []struct {
		path, body string
		status     int
	}{
		{"/v1/render/viewed-product", bodies["viewed-product"], 200},
		{"/v1/render/viewed-product", bodies["viewed-product"], 200},
		{"/v1/render/viewed-product", `{"product":{"id":"1"}}`, 422},
		{"/v1/render/nope", `{}`, 404},
		{"/v1/render", `{"snippets":[{"type":"loader"}]}`, 200},
	} {
		if rec := do("POST", c.path, c.body); rec.Code != c.status {
			t.Fatalf("POST %s = %d, want %d: %s", c.path, rec.Code, c.status, rec.Body)
		}
	}
	want := `
# HELP snippetd_renders_total Snippets rendered, by snippet and HTTP status (200, or the status of the error).
# TYPE snippetd_renders_total counter
snippetd_renders_total{snippet="batch",status="200"} 1
snippetd_renders_total{snippet="unknown",status="404"} 1
snippetd_renders_total{snippet="viewed-product",status="200"} 2
snippetd_renders_total{snippet="viewed-product",status="422"} 1
`
	if err := testutil.GatherAndCompare(s.Metrics.Gatherer(), strings.NewReader(want), "snippetd_renders_total"); err != nil {
		t.Error(err)
	}
	rec := do("GET", "/metrics", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "snippetd_render_duration_seconds_bucket") {
		t.Errorf("GET /metrics = %d, missing the latency histogram:\n%.500s", rec.Code, rec.Body)
	}

	// Without Metrics the route answers a JSON 404.
	s2 := httpapi.NewServer()
	rec = httptest.NewRecorder()
	s2.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("GET /metrics without Metrics = %d, want 404", rec.Code)
	}
}
