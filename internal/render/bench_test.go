package render

import (
	"context"
	"testing"
)

// BenchmarkRender is the whole render path of the API for each snippet:
// decoding, validation, building and writing.
//
//	go test ./render -run '^$' -bench . -benchmem
func BenchmarkRender(b *testing.B) {
	rd := Renderer{PublicKey: "AbC123"}
	for _, name := range Names {
		b.Run(name, func(b *testing.B) {
			body := []byte(okBodies[name])
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rd.Render(context.Background(), name, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
