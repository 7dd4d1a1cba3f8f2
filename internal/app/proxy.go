package app

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/demo"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
	"github.com/snippetd/snippetd/proxy"
	"golang.org/x/time/rate"
)

// openProxy builds the first-party proxy from the config and mounts its
// routes on s: events and identifies go into ob, browser identities into
// the shared database, klaviyo.js is cached under DataDir/proxy.
func (m *Main) openProxy(ctx context.Context, s *httpapi.Server, ob *outbox.Outbox) error {
	c := m.Config
	for _, name := range c.ProxyMetrics {
		if err := proxy.CheckCustomMetric(name); err != nil {
			return fmt.Errorf("proxy-metrics (SNIPPETD_PROXY_METRICS): %w", err)
		}
	}
	store, err := proxy.OpenStore(ctx, m.DB, m.Logger)
	if err != nil {
		return fmt.Errorf("proxy store: %w", err)
	}
	m.closers = append(m.closers, func(context.Context) error { return store.Close() })
	m.prune("proxy_browsers", c.ProxyRetention, store.Prune)
	if s.Consent != nil {
		s.Consent.Erasers = append(s.Consent.Erasers, consent.Eraser{Name: "proxy_browsers", Erase: func(ctx context.Context, p consent.Person) (int64, error) {
			var n int64
			for _, e := range append(p.Emails(), p.Phones()...) {
				c, err := store.Erase(ctx, e, e)
				if err != nil {
					return n, err
				}
				n += c
			}
			return n, nil
		}})
	}
	url, err := proxy.ScriptURL(c.KlaviyoStaticURL, c.PublicKey)
	if err != nil {
		return fmt.Errorf("klaviyo-static-url (SNIPPETD_KLAVIYO_STATIC_URL): %w", err)
	}
	var script *proxy.Script
	if m.Sink != nil {
		// Local-sink mode: nothing leaves the machine, klaviyo.js included;
		// the proxy serves the demo's stand-in.
		standIn, err := fs.ReadFile(demo.Static, "static/klaviyo.js")
		if err != nil {
			return fmt.Errorf("klaviyo.js stand-in: %w", err)
		}
		script = proxy.FixedScript(standIn)
	} else {
		script = &proxy.Script{
			URL:    url,
			Client: proxy.NewUpstreamClient(),
			Dir:    filepath.Join(c.DataDir, "proxy"),
			TTL:    c.ProxyScriptTTL,
			Logger: m.Logger,
		}
		if err := script.Load(); err != nil {
			return fmt.Errorf("klaviyo.js cache: %w", err)
		}
		script.Warm()
	}
	m.closers = append(m.closers, func(context.Context) error { script.Close(); return nil })
	anon := c.ProxyAnonymous == "keep"
	var cartLinks proxy.Carts
	if m.Carts != nil {
		cartLinks = m.Carts // restore links as the cart events' CheckoutURL
	}
	var products proxy.Products
	if m.Catalog != nil {
		products = m.Catalog // counts the unknown product ids events name
	}
	p := proxy.New(proxy.Options{
		Prefix:         c.ProxyPrefix,
		AllowedOrigins: c.AllowedOrigins,
		TrustedProxies: c.TrustedProxies,
		CustomMetrics:  c.ProxyMetrics,
		Limits:         proxy.EventLimits{MaxEvents: c.ProxyMaxEvents},
		MaxBodyBytes:   c.ProxyMaxBodyBytes,
		Rate:           rate.Limit(c.ProxyRate),
		Burst:          c.ProxyBurst,
		Subscriber:     s.Consent,
		KeepAnonymous:  anon,
		RequireConsent: c.ProxyRequireConsent,
		Metrics:        m.Metrics,
		Carts:          cartLinks,
		Products:       products,
		DefaultCountry: c.DefaultCountry,
		Phones:         phoneDrops{metrics: m.Metrics, ring: m.Inspector.Ring},
	}, store, proxy.EnqueueFunc(func(ctx context.Context, events []klaviyo.Event) error {
		return ob.Enqueue(ctx, events, "proxy")
	}), script, m.Logger)
	p.Routes(s.First())
	s.ProxyPrefix = c.ProxyPrefix
	m.Proxy = p
	m.Logger.Info("first-party proxy on", "prefix", c.ProxyPrefix, "origins", c.AllowedOrigins, "anonymous", c.ProxyAnonymous, "require_consent", c.ProxyRequireConsent)
	return nil
}
