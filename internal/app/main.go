// Package app wires snippetd together: it turns a config.Config into open
// stores, clients and a listening HTTP server, and closes them in order.
// cmd/snippetd and the end-to-end tests both run the server through Main.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/snippetd/snippetd/internal/carts"
	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/localsink"
	"github.com/snippetd/snippetd/internal/metrics"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/internal/outbox"
	"github.com/snippetd/snippetd/internal/version"
	"github.com/snippetd/snippetd/proxy"
	"github.com/snippetd/snippetd/web"
)

// Main is one running snippetd server.
type Main struct {
	Config config.Config
	Logger *slog.Logger
	Server *httpapi.Server
	// DB is the one database every store uses (SQLite or PostgreSQL).
	DB *db.DB
	// Catalog is the loaded product catalog (feed, product API, unknown
	// product ids).
	Catalog *catalog.Catalog
	// Outbox stores every server-side event durably before delivery.
	Outbox *outbox.Outbox
	// Consent stores subscriptions, profile upserts, erasures and
	// back-in-stock requests as outbox jobs.
	Consent *consent.Service
	// Sender is what the outbox's delivery loop sends through. Leave it nil
	// to use the Klaviyo client when a private key is configured (no key:
	// events are stored and wait); tests may set it before Open.
	Sender klaviyo.Sender
	// Proxy is the first-party proxy, nil unless SNIPPETD_PROXY=on.
	Proxy *proxy.Proxy
	// Sink is the local sink the outbox delivers to when no Sender is set
	// (no private key): nothing leaves the machine. Nil otherwise.
	Sink *localsink.Sink
	// Metrics is the Prometheus registry behind GET /metrics.
	Metrics *metrics.Registry
	// Inspector backs /debug/events.
	Inspector *inspect.Inspector
	// Orders serves the orders API.
	Orders *orders.Service
	// Carts remembers carts for restore links, nil unless
	// SNIPPETD_PUBLIC_URL is set (app/carts.go).
	Carts *carts.Service
	// KeyReload is how often SNIPPETD_PRIVATE_KEY_FILE is re-read
	// (default DefaultKeyReload); set before Open.
	KeyReload time.Duration

	closers    []func(context.Context) error
	pruneTasks []db.PruneTask // see retention.go
}

// NewMain returns a Main for cfg; nothing is opened until Open.
func NewMain(cfg config.Config, logger *slog.Logger) *Main {
	if logger == nil {
		logger = slog.Default()
	}
	return &Main{Config: cfg, Logger: logger}
}

// Open creates the data directory, opens every dependency and starts
// serving. On error everything already opened is closed again.
func (m *Main) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			m.Close(context.Background())
		}
	}()
	// The browser helper is bundled from embedded TypeScript at start-up:
	// a build error stops the server here, not on the first request.
	helpers, err := web.Embedded()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	d, err := db.Open(ctx, m.Config.DataDir, m.Config.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	m.DB = d
	m.closers = append(m.closers, func(context.Context) error { return d.Close() })
	if err := secureDelete(ctx, d); err != nil {
		return fmt.Errorf("database: %w", err)
	}

	// Catalog.
	cat, err := catalog.Open(ctx, CatalogOptions(m.Config, d, m.Logger))
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	m.Catalog = cat
	m.closers = append(m.closers, func(context.Context) error { return cat.Close() })

	// Metrics: one registry; the outbox gauges read at scrape.
	var ob *outbox.Outbox
	m.Metrics = metrics.New(func(ctx context.Context) (metrics.OutboxDepth, error) {
		st, err := ob.Status(ctx)
		return metrics.OutboxDepth{Pending: st.Pending, Delivered: st.Delivered, Dead: st.Dead, OldestPending: st.OldestPendingAge}, err
	})
	// Klaviyo client: the sender when a private key is set.
	var client *klaviyo.Client
	if m.Sender == nil && m.Config.PrivateKey != "" {
		client, err = NewKlaviyoClient(m.Config, m.Logger, func(o *klaviyo.Options) {
			o.OnLimitWait = m.Metrics.ObserveClientWait // rate-limit waits
		})
		if err != nil {
			return fmt.Errorf("klaviyo: %w", err)
		}
		m.Sender = client
		cat.SetAPI(client) // restocks go to the Catalog API at once (SNIPPETD_CATALOG_MODE=api)
	}

	// Local sink: with no private key, deliver to the in-memory local
	// sink instead of Klaviyo (before the outbox opens: it takes the
	// consent jobs too).
	localSink := m.Sender == nil
	if localSink {
		m.Sink = localsink.New(0)
		m.Sender = m.Sink
		m.Logger.Warn("no Klaviyo private key (SNIPPETD_PRIVATE_KEY): delivering to the local sink; nothing is sent to Klaviyo", "sink", m.Sink.String())
	}
	// Outbox: open on the shared database; deliver when there is a sender.
	ob, err = outbox.Open(ctx, d, outbox.Options{Retention: m.Config.OutboxRetention, DeadRetention: m.Config.OutboxDeadRetention, MaxBackoff: m.Config.OutboxMaxBackoff, JobLinger: m.Config.OutboxJobLinger, Logger: m.Logger, Metrics: m.Metrics,
		Target: DeliveryTarget(m.Config, localSink), KeySetting: KeySetting(m.Config),
		JobSender: consentSender(m.Sender), Scrub: scrubFor(d)})
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	m.Outbox = ob
	m.closers = append(m.closers, ob.Close)
	lctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ob.Run(lctx, m.Sender) }()
	if client != nil && m.Config.PrivateKeyFile != "" {
		go watchKeyFile(lctx, m.Config.PrivateKeyFile, cmp.Or(m.KeyReload, DefaultKeyReload), client, ob, m.Config.PrivateKey, m.Logger)
	}
	// Stop lets requests in flight finish (and be recorded) within the
	// shutdown's grace, so a restart does not send them again.
	m.closers = append(m.closers, func(ctx context.Context) error { err := ob.Stop(ctx); stop(); <-done; return err })

	s := httpapi.NewServer()
	s.Addr = m.Config.Addr
	s.Logger = m.Logger
	s.AccessLog = m.Config.AccessLog
	s.MaxBodyBytes = m.Config.MaxBodyBytes
	s.PublicKey = m.Config.PublicKey
	s.DefaultCountry = m.Config.DefaultCountry
	s.Currency = m.Config.Currency
	s.Helpers = helpers
	s.Catalog = cat
	s.CatalogMaxBodyBytes = m.Config.CatalogMaxBodyBytes
	s.ReadyChecks = append(s.ReadyChecks, d.WriteReady, ob.Ready)
	s.Metrics = m.Metrics
	// Event inspector: the outbox plus browser-side events.
	m.Inspector = &inspect.Inspector{DB: d, Ring: inspect.NewRing(0), Sink: m.Sink}
	s.Inspector = inspect.NewHandler(m.Inspector, inspect.HandlerOptions{Token: m.Config.APIToken, Logger: m.Logger})
	s.Rendered = m.Inspector.Ring
	s.PhoneLog = m.Inspector.Ring
	// Orders API. Its events go through the outbox: 202 means
	// committed, and the delivery loop sends them.
	ost, err := orders.OpenStore(ctx, d)
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	m.Orders = &orders.Service{Store: ost, Publisher: outbox.Producer{Outbox: ob, Name: "orders"}, Defaults: OrderDefaults(m.Config),
		PhonesDropped: func(n int) { m.Metrics.ObservePhonesDropped("orders", n) },
		PhoneDropped:  func(field, number string) { m.Inspector.Ring.RecordPhoneDropped("orders", field, number) }}
	m.prune("orders", m.Config.OrdersRetention, ost.Prune)
	s.APIToken = m.Config.APIToken
	s.Orders = m.Orders
	m.Consent = m.newConsent(ob, cat)
	s.Consent = m.Consent
	m.Orders.Consent = s.Consent
	// Demo shop: on by default in local-sink mode.
	if m.Config.Demo == "on" || m.Config.Demo == "force" || m.Config.Demo == "" && m.Sink != nil {
		s.Demo = m.newDemo(helpers)
	}
	m.Server = s
	if err := m.openCarts(ctx, s); err != nil {
		return err
	}
	// First-party proxy (app/proxy.go): mounted only when switched on.
	if m.Config.Proxy {
		if err := m.openProxy(ctx, s, ob); err != nil {
			return err
		}
	}
	m.startPruning()
	if err := s.Open(); err != nil {
		return fmt.Errorf("addr (SNIPPETD_ADDR) %q: %w", m.Config.Addr, err)
	}
	m.closers = append(m.closers, s.Close)
	m.Logger.Info("snippetd listening", "url", s.URL(), "data_dir", m.Config.DataDir, "version", version.String())
	if s.Demo != nil {
		m.Logger.Info("demo shop: open "+s.URL()+"/demo/ and watch the events at "+s.URL()+"/debug/events", "local_sink", m.Sink != nil)
	}
	return nil
}

// Close shuts everything down in the reverse order of opening, giving
// in-flight work until ctx ends.
func (m *Main) Close(ctx context.Context) error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i](ctx))
	}
	m.closers = nil
	return errors.Join(errs...)
}

// CatalogOptions maps the configuration to the catalog's options; the
// server and `snippetd catalog sync` share it.
func CatalogOptions(cfg config.Config, d *db.DB, logger *slog.Logger) catalog.Options {
	return catalog.Options{
		Mode:      cfg.CatalogMode,
		File:      cfg.CatalogFile,
		DB:        d,
		Dir:       filepath.Join(cfg.DataDir, "catalog"),
		PartBytes: cfg.CatalogPartBytes,
		Poll:      cfg.CatalogPoll,
		Logger:    logger,
		Currency:  cfg.Currency,
	}
}
