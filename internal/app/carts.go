package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/carts"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/proxy"
	"golang.org/x/time/rate"
)

// openCarts turns cart restore links on when SNIPPETD_PUBLIC_URL is set:
// carts are remembered in the shared database, and the server answers
// /r/{token} and /v1/carts. Without SNIPPETD_CART_RESTORE_URL the demo
// shop's restore route is the template (config allows that only when the
// demo is on).
func (m *Main) openCarts(ctx context.Context, s *httpapi.Server) error {
	c := m.Config
	if c.PublicURL == "" {
		return nil
	}
	raw := c.CartRestoreURL
	if raw == "" {
		if s.Demo == nil {
			return fmt.Errorf("cart-restore-url (SNIPPETD_CART_RESTORE_URL) is required: the demo shop, whose restore route would be the default, is off")
		}
		raw = strings.TrimSuffix(c.PublicURL, "/") + "/demo/cart/restore?items={items}&cart={cart_id}"
	}
	tmpl, err := carts.ParseTemplate(raw)
	if err != nil {
		return fmt.Errorf("cart-restore-url (SNIPPETD_CART_RESTORE_URL) %w", err)
	}
	svc, err := carts.Open(ctx, m.DB, carts.Options{
		PublicURL: c.PublicURL,
		Template:  tmpl,
		Mode:      carts.Mode(c.CartRestore),
		TTL:       c.CartTTL,
		Logger:    m.Logger,
	})
	if err != nil {
		return fmt.Errorf("carts: %w", err)
	}
	m.Carts = svc
	m.closers = append(m.closers, func(context.Context) error { return svc.Close() })
	// Restore visits are rate-limited per client IP like the proxy.
	s.CartRestore = httpapi.CartRestore{
		Carts:          svc,
		Limiter:        &proxy.Limiter{Rate: rate.Limit(c.ProxyRate), Burst: c.ProxyBurst, Max: 100_000, Idle: 10 * time.Minute},
		TrustedProxies: c.TrustedProxies,
		Visits:         m.Inspector.Ring,
	}
	m.Logger.Info("cart restore links on", "public_url", c.PublicURL, "restore_url", tmpl.Home(), "mode", c.CartRestore, "ttl", c.CartTTL)
	return nil
}
