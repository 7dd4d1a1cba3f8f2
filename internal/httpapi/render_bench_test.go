package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/httpapi"
)

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkRenderHandler is the server's work for one render request
// without the network: routing, body, decoding, rendering, headers.
//
//	go test ./httpapi -run '^$' -bench RenderHandler -benchmem
func BenchmarkRenderHandler(b *testing.B) {
	s := httpapi.NewServer()
	s.PublicKey = "AbC123"
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
}
