package metrics

import "github.com/prometheus/client_golang/prometheus"

// CartRestores is the hook of the cart restore links (GET /r/{token}).
type CartRestores interface {
	// ObserveCartRestore counts one visit by outcome: "restored",
	// "expired" or "invalid" (malformed, tampered, another shop's or
	// guessed), or "rate_limited".
	ObserveCartRestore(outcome string)
}

// ObserveCartRestore does nothing.
func (Nop) ObserveCartRestore(string) {}

// registerCarts adds the restore visit counter, every outcome at 0 so
// that a dashboard sees the series before the first visit.
func (m *Registry) registerCarts() {
	m.cartRestores = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "snippetd_cart_restores_total",
		Help: "Visits of cart restore links (GET /r/{token}), by outcome: restored, expired, invalid, rate_limited.",
	}, []string{"outcome"})
	for _, o := range []string{"restored", "expired", "invalid", "rate_limited"} {
		m.cartRestores.WithLabelValues(o)
	}
	m.reg.MustRegister(m.cartRestores)
}

// ObserveCartRestore counts one restore link visit.
func (m *Registry) ObserveCartRestore(outcome string) {
	m.cartRestores.WithLabelValues(outcome).Inc()
}
