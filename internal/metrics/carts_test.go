package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/snippetd/snippetd/internal/metrics"
)

var (
	_ metrics.CartRestores = (*metrics.Registry)(nil)
	_ metrics.CartRestores = metrics.Nop{}
)

func TestCartRestores(t *testing.T) {
	m := metrics.New(nil)
	m.ObserveCartRestore("restored")
	m.ObserveCartRestore("restored")
	m.ObserveCartRestore("invalid")
	for outcome, want := range map[string]float64{"restored": 2, "expired": 0, "invalid": 1, "rate_limited": 0} {
		n, err := testutil.GatherAndCount(m.Gatherer(), "snippetd_cart_restores_total")
		if err != nil || n != 4 {
			t.Fatalf("%d series, %v", n, err)
		}
		mfs, _ := m.Gatherer().Gather()
		var got float64 = -1
		for _, mf := range mfs {
			if mf.GetName() != "snippetd_cart_restores_total" {
				continue
			}
			for _, mt := range mf.GetMetric() {
				if mt.GetLabel()[0].GetValue() == outcome {
					got = mt.GetCounter().GetValue()
				}
			}
		}
		if got != want {
			t.Errorf("%s = %v, want %v", outcome, got, want)
		}
	}
}
