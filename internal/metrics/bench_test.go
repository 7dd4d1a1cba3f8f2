package metrics_test

import (
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/metrics"
)

// BenchmarkObserveRender is the cost of one render observation (a
// labelled counter and a histogram), beside the Nop hook that packages
// use without metrics.
//
//	go test ./metrics -run '^$' -bench ObserveRender -benchmem -count 6
func BenchmarkObserveRender(b *testing.B) {
	for name, h := range map[string]metrics.Renders{"nop": metrics.Nop{}, "prometheus": metrics.New(nil)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.ObserveRender("added-to-cart", 200, 42*time.Microsecond)
			}
		})
	}
}
