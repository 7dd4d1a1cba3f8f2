package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/metrics"
)

// BenchmarkRenderMetrics is the render handler's work with and without the
// Prometheus hooks (a labelled counter and a histogram per request), so
// the cost of metrics is measured beside its own baseline.
//
//	go test ./httpapi -run '^$' -bench RenderMetrics -benchmem -count 6
func BenchmarkRenderMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "without"
		if on {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
			s := httpapi.NewServer()
			s.PublicKey = "AbC123"
			if on {
				s.Metrics = metrics.New(nil)
			}
			body := bodies["added-to-cart"]
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("POST", "http://x/v1/render/added-to-cart", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.ContentLength = int64(len(body))
				w := &discardWriter{h: http.Header{}}
				s.ServeHTTP(w, req)
				if w.status != 0 && w.status != 200 {
					b.Fatal(w.status)
				}
			}
		})
	}
}
