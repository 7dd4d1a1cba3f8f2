// Package config holds snippetd's one typed configuration: every setting,
// its default, its flag and its SNIPPETD_* environment variable, validated
// once at start-up. Handlers never read the environment; they get the
// values they need from here.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/carts"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/snippets"
)

// Config is every setting of a snippetd server. Flags override environment
// variables, which override the defaults documented on each field.
type Config struct {
	// Addr is the listen address (SNIPPETD_ADDR, default ":8080").
	Addr string
	// PublicKey is the Klaviyo public key (site id, 6 characters) the loader
	// snippet uses (SNIPPETD_PUBLIC_KEY; empty until configured, in which
	// case render requests must name one).
	PublicKey string
	// DataDir holds the embedded database and caches (SNIPPETD_DATA_DIR,
	// default "./data").
	DataDir string
	// APIToken is the bearer token for the write APIs (SNIPPETD_API_TOKEN or
	// SNIPPETD_API_TOKEN_FILE; empty disables those APIs).
	APIToken string
	// DatabaseURL selects PostgreSQL (postgres://...) so that several
	// instances share one outbox (SNIPPETD_DATABASE_URL or
	// SNIPPETD_DATABASE_URL_FILE; empty means the embedded SQLite file
	// DataDir/snippetd.db).
	DatabaseURL string
	// LogLevel is debug, info, warn or error (SNIPPETD_LOG_LEVEL, default info).
	LogLevel slog.Level
	// LogFormat is text or json (SNIPPETD_LOG_FORMAT, default text).
	LogFormat string
	// MaxBodyBytes caps every request body (SNIPPETD_MAX_BODY_BYTES, default
	// 1 MiB).
	MaxBodyBytes int64
	// ShutdownTimeout is how long in-flight requests get on SIGTERM
	// (SNIPPETD_SHUTDOWN_TIMEOUT, default 15s).
	ShutdownTimeout time.Duration

	// Catalog (package catalog).

	// CatalogMode is how the catalog reaches Klaviyo: "feed" serves
	// /catalog.json and /catalog.xml, "api" leaves them off and lets
	// `snippetd catalog sync` use the Catalog API — Klaviyo takes one or
	// the other per catalog (SNIPPETD_CATALOG_MODE, default feed).
	CatalogMode string
	// CatalogFile is a JSON array, JSON lines or CSV file of products,
	// reloaded when it changes (SNIPPETD_CATALOG_FILE; empty: products are
	// stored in the database through PUT/PATCH /v1/catalog/products).
	CatalogFile string
	// CatalogPoll is how often the file (or the database) is checked for
	// changes (SNIPPETD_CATALOG_POLL, default 2s; 0 turns reloading off).
	CatalogPoll time.Duration
	// CatalogPartBytes is the largest feed document in bytes; bigger feeds
	// are split into numbered parts (SNIPPETD_CATALOG_PART_BYTES, default
	// 100000000, Klaviyo's 100 MB limit).
	CatalogPartBytes int64
	// CatalogMaxBodyBytes caps PUT/PATCH /v1/catalog/products bodies
	// (SNIPPETD_CATALOG_MAX_BODY_BYTES, default 33554432 = 32 MiB).
	CatalogMaxBodyBytes int64

	// First-party proxy (package proxy; README "First-party proxy").

	// Proxy mounts the first-party proxy routes (SNIPPETD_PROXY, on or off,
	// default off).
	Proxy bool
	// ProxyPrefix is the path the proxy lives under, with leading and
	// trailing slash (SNIPPETD_PROXY_PREFIX, default "/s/").
	ProxyPrefix string
	// AllowedOrigins are the storefront origins whose pages may post to the
	// proxy (SNIPPETD_ALLOWED_ORIGINS, comma-separated, such as
	// "https://shop.example"; required when the proxy is on).
	AllowedOrigins []string
	// TrustedProxies are the CIDRs of reverse proxies whose X-Forwarded-For
	// and X-Forwarded-Proto are believed (SNIPPETD_TRUSTED_PROXIES,
	// comma-separated, default none: the connection's address is the client).
	TrustedProxies []netip.Prefix
	// KlaviyoStaticURL is where klaviyo.js is fetched from for {prefix}k.js
	// (SNIPPETD_KLAVIYO_STATIC_URL, default "https://static.klaviyo.com").
	KlaviyoStaticURL string
	// ProxyScriptTTL is how long a fetched klaviyo.js is fresh before it is
	// revalidated in the background (SNIPPETD_PROXY_SCRIPT_TTL, default 15m).
	ProxyScriptTTL time.Duration
	// ProxyMetrics are custom metric names browsers may send beside Active on
	// Site, Viewed Product, Added to Cart and Started Checkout
	// (SNIPPETD_PROXY_METRICS, comma-separated, default none).
	ProxyMetrics []string
	// ProxyAnonymous is what happens to events from a browser with no
	// identifier: "drop" (default) or "keep" (sent with anonymous_id)
	// (SNIPPETD_PROXY_ANONYMOUS).
	ProxyAnonymous string
	// ProxyRequireConsent drops events and identifies whose body lacks
	// "consent": true (SNIPPETD_PROXY_REQUIRE_CONSENT, default false).
	ProxyRequireConsent bool
	// ProxyRate is the steady requests per second allowed per client IP
	// (SNIPPETD_PROXY_RATE, default 5); ProxyBurst is the burst
	// (SNIPPETD_PROXY_BURST, default 20 requests).
	ProxyRate  float64
	ProxyBurst int
	// ProxyMaxEvents is the most events one request may carry
	// (SNIPPETD_PROXY_MAX_EVENTS, default 50).
	ProxyMaxEvents int
	// ProxyMaxBodyBytes caps a proxy request body
	// (SNIPPETD_PROXY_MAX_BODY_BYTES, default 65536 bytes).
	ProxyMaxBodyBytes int64
	// Demo shop and inspector (issue 8).

	// Demo serves the demo shop at /demo/: "on", "off", or "" (the
	// default: on when no private key is configured, that is in local-sink
	// mode) (SNIPPETD_DEMO).
	Demo string

	// Outbox settings.

	// OutboxRetention is how long delivered events stay in the outbox
	// before pruning, for audits and replays (SNIPPETD_OUTBOX_RETENTION,
	// default 168h = 7 days).
	OutboxRetention time.Duration
	// OutboxMaxBackoff caps the wait between delivery retries when Klaviyo
	// gives no Retry-After (SNIPPETD_OUTBOX_MAX_BACKOFF, default 1m).
	OutboxMaxBackoff time.Duration

	// Cart restore links (package carts; README "Cart restore").

	// PublicURL is where shoppers' browsers reach snippetd, such as
	// https://t.shop.example (SNIPPETD_PUBLIC_URL; empty turns cart restore
	// links off). Restore links are {PublicURL}/r/{token}.
	PublicURL string
	// CartTTL is how long a cart is remembered after it was last seen, and
	// how long its links work (SNIPPETD_CART_TTL, default 720h = 30 days).
	CartTTL time.Duration
	// CartRestore is when an event's CheckoutURL becomes a restore link:
	// "missing" (when the shop sent none, the default), "always" or "off"
	// (SNIPPETD_CART_RESTORE).
	CartRestore string
	// CartRestoreURL is the shop's restore URL template with {items},
	// {cart_id} and/or {token}, such as
	// https://shop.example/cart/restore?items={items} (SNIPPETD_CART_RESTORE_URL;
	// required with PublicURL unless the demo shop is on, whose own
	// restore route is then the default).
	CartRestoreURL string

	// Klaviyo client settings.

	// PrivateKey is the Klaviyo private API key for server-side events
	// (SNIPPETD_PRIVATE_KEY or SNIPPETD_PRIVATE_KEY_FILE; empty means no
	// sender: the orders API validates and answers 503 until one is set).
	// Never logged.
	PrivateKey string
	// KlaviyoURL is Klaviyo's base URL (SNIPPETD_KLAVIYO_URL, default
	// https://a.klaviyo.com); tests and demos point it at the fake.
	KlaviyoURL string
	// KlaviyoRevision is the API revision header (SNIPPETD_KLAVIYO_REVISION,
	// default 2026-07-15; format YYYY-MM-DD[.suffix]).
	KlaviyoRevision string
}

// Env looks up an environment variable; os.Getenv in production, a map in
// tests.
type Env func(string) string

// Load builds a Config from args (flags, without the program name) and env,
// then validates it. Errors name the flag and variable at fault.
func Load(args []string, env Env, output io.Writer) (Config, error) {
	if env == nil {
		env = os.Getenv
	}
	var c Config
	fs := flag.NewFlagSet("snippetd serve", flag.ContinueOnError)
	fs.SetOutput(output)
	var errs []error
	str := func(p *string, name, envName, def, help string) {
		v := def
		if e := env(envName); e != "" {
			v = e
		}
		fs.StringVar(p, name, v, fmt.Sprintf("%s (env %s)", help, envName))
	}
	secret := func(p *string, name, envName, help string) {
		v := env(envName)
		if f := env(envName + "_FILE"); f != "" {
			if v != "" {
				errs = append(errs, fmt.Errorf("set %s or %s_FILE, not both", envName, envName))
			}
			b, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: %v", envName, err))
			}
			v = strings.TrimSpace(string(b))
		}
		fs.StringVar(p, name, v, fmt.Sprintf("%s (env %s or %s_FILE)", help, envName, envName))
	}

	str(&c.Addr, "addr", "SNIPPETD_ADDR", ":8080", "listen address")
	str(&c.PublicKey, "public-key", "SNIPPETD_PUBLIC_KEY", "", "Klaviyo public key (6-character site id) for the loader")
	str(&c.DataDir, "data-dir", "SNIPPETD_DATA_DIR", "./data", "directory for the embedded database and caches")
	secret(&c.APIToken, "api-token", "SNIPPETD_API_TOKEN", "bearer token for the write APIs")
	secret(&c.DatabaseURL, "database-url", "SNIPPETD_DATABASE_URL", "PostgreSQL URL (postgres://...); empty uses the embedded SQLite file")
	var level, maxBody, shutdown string
	str(&level, "log-level", "SNIPPETD_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	str(&c.LogFormat, "log-format", "SNIPPETD_LOG_FORMAT", "text", "log format: text or json")
	str(&maxBody, "max-body-bytes", "SNIPPETD_MAX_BODY_BYTES", "1048576", "largest accepted request body, in bytes")
	str(&shutdown, "shutdown-timeout", "SNIPPETD_SHUTDOWN_TIMEOUT", "15s", "grace period for in-flight requests on shutdown")

	// Catalog.
	var catPoll, catPart, catBody string
	str(&c.CatalogMode, "catalog-mode", "SNIPPETD_CATALOG_MODE", "feed", "catalog to Klaviyo by custom feed (feed) or Catalog API sync (api); never both")
	str(&c.CatalogFile, "catalog-file", "SNIPPETD_CATALOG_FILE", "", "products file (JSON array, JSON lines or .csv), reloaded on change; empty keeps products in the database")
	str(&catPoll, "catalog-poll", "SNIPPETD_CATALOG_POLL", "2s", "how often the catalog source is checked for changes (0 = never)")
	str(&catPart, "catalog-part-bytes", "SNIPPETD_CATALOG_PART_BYTES", "100000000", "largest catalog feed document, in bytes, before splitting into parts")
	str(&catBody, "catalog-max-body-bytes", "SNIPPETD_CATALOG_MAX_BODY_BYTES", "33554432", "largest PUT/PATCH /v1/catalog/products body, in bytes")

	// First-party proxy.
	var proxyOn, origins, trusted, scriptTTL, metrics, consent, prate, pburst, pmaxEvents, pmaxBody string
	str(&proxyOn, "proxy", "SNIPPETD_PROXY", "off", "first-party proxy for browser events: on or off")
	str(&c.ProxyPrefix, "proxy-prefix", "SNIPPETD_PROXY_PREFIX", "/s/", "path prefix of the proxy routes")
	if env("SNIPPETD_PROXY_ADDR") != "" {
		// A removed setting is refused rather than ignored: a reverse
		// proxy still routing {prefix} to that address would lose events.
		errs = append(errs, errors.New("SNIPPETD_PROXY_ADDR is no longer supported: the proxy's routes are served on addr (SNIPPETD_ADDR) only; route the proxy prefix there and unset it"))
	}
	str(&origins, "allowed-origins", "SNIPPETD_ALLOWED_ORIGINS", "", "comma-separated storefront origins allowed to post to the proxy")
	str(&trusted, "trusted-proxies", "SNIPPETD_TRUSTED_PROXIES", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed")
	str(&c.KlaviyoStaticURL, "klaviyo-static-url", "SNIPPETD_KLAVIYO_STATIC_URL", "https://static.klaviyo.com", "where the proxy fetches klaviyo.js")
	str(&scriptTTL, "proxy-script-ttl", "SNIPPETD_PROXY_SCRIPT_TTL", "15m", "how long a fetched klaviyo.js is fresh")
	str(&metrics, "proxy-metrics", "SNIPPETD_PROXY_METRICS", "", "comma-separated custom metric names browsers may send through the proxy")
	str(&c.ProxyAnonymous, "proxy-anonymous", "SNIPPETD_PROXY_ANONYMOUS", "drop", "events from browsers with no identifier: drop or keep (with anonymous_id)")
	str(&consent, "proxy-require-consent", "SNIPPETD_PROXY_REQUIRE_CONSENT", "false", "drop proxy events whose body lacks \"consent\": true")
	str(&prate, "proxy-rate", "SNIPPETD_PROXY_RATE", "5", "proxy requests per second allowed per client IP")
	str(&pburst, "proxy-burst", "SNIPPETD_PROXY_BURST", "20", "proxy request burst per client IP")
	str(&pmaxEvents, "proxy-max-events", "SNIPPETD_PROXY_MAX_EVENTS", "50", "most events per proxy request")
	str(&pmaxBody, "proxy-max-body-bytes", "SNIPPETD_PROXY_MAX_BODY_BYTES", "65536", "largest proxy request body, in bytes")
	// Demo shop (issue 8).
	str(&c.Demo, "demo", "SNIPPETD_DEMO", "", "demo shop at /demo/: on or off (default: on when no private key is set)")
	// Outbox settings.
	var retention, maxBackoff string
	str(&retention, "outbox-retention", "SNIPPETD_OUTBOX_RETENTION", "168h", "how long delivered events are kept before pruning")
	str(&maxBackoff, "outbox-max-backoff", "SNIPPETD_OUTBOX_MAX_BACKOFF", "1m", "longest wait between delivery retries without a Retry-After")

	// Cart restore links.
	var cartTTL string
	str(&c.PublicURL, "public-url", "SNIPPETD_PUBLIC_URL", "", "public base URL of snippetd for cart restore links (empty: off)")
	str(&cartTTL, "cart-ttl", "SNIPPETD_CART_TTL", "720h", "how long carts are remembered and their restore links work")
	str(&c.CartRestore, "cart-restore", "SNIPPETD_CART_RESTORE", "missing", "when CheckoutURL becomes a restore link: missing, always or off")
	str(&c.CartRestoreURL, "cart-restore-url", "SNIPPETD_CART_RESTORE_URL", "", "shop's restore URL template with {items}, {cart_id}, {token}")

	// Klaviyo client settings.
	secret(&c.PrivateKey, "private-key", "SNIPPETD_PRIVATE_KEY", "Klaviyo private API key for server-side events (prefer the _FILE variable)")
	str(&c.KlaviyoURL, "klaviyo-url", "SNIPPETD_KLAVIYO_URL", "https://a.klaviyo.com", "Klaviyo API base URL")
	str(&c.KlaviyoRevision, "klaviyo-revision", "SNIPPETD_KLAVIYO_REVISION", "2026-07-15", "Klaviyo API revision header (YYYY-MM-DD[.suffix])")

	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("log-level (SNIPPETD_LOG_LEVEL) %q: want debug, info, warn or error", level))
	}
	n, err := strconv.ParseInt(maxBody, 10, 64)
	if err != nil || n < 1024 {
		errs = append(errs, fmt.Errorf("max-body-bytes (SNIPPETD_MAX_BODY_BYTES) %q: want a whole number of bytes, at least 1024", maxBody))
	}
	c.MaxBodyBytes = n
	d, err := time.ParseDuration(shutdown)
	if err != nil || d < 0 {
		errs = append(errs, fmt.Errorf("shutdown-timeout (SNIPPETD_SHUTDOWN_TIMEOUT) %q: want a duration such as 15s", shutdown))
	}
	c.ShutdownTimeout = d
	if d, err := time.ParseDuration(catPoll); err != nil || d < 0 {
		errs = append(errs, fmt.Errorf("catalog-poll (SNIPPETD_CATALOG_POLL) %q: want a duration such as 2s, or 0", catPoll))
	} else {
		c.CatalogPoll = d
	}
	if n, err := strconv.ParseInt(catPart, 10, 64); err != nil || n < 1024 {
		errs = append(errs, fmt.Errorf("catalog-part-bytes (SNIPPETD_CATALOG_PART_BYTES) %q: want a whole number of bytes, at least 1024", catPart))
	} else {
		c.CatalogPartBytes = n
	}
	if n, err := strconv.ParseInt(catBody, 10, 64); err != nil || n < 1024 {
		errs = append(errs, fmt.Errorf("catalog-max-body-bytes (SNIPPETD_CATALOG_MAX_BODY_BYTES) %q: want a whole number of bytes, at least 1024", catBody))
	} else {
		c.CatalogMaxBodyBytes = n
	}
	errs = append(errs, c.loadProxy(proxyOn, origins, trusted, scriptTTL, metrics, consent, prate, pburst, pmaxEvents, pmaxBody)...)
	// Demo shop (issue 8).
	if c.Demo != "" && c.Demo != "on" && c.Demo != "off" {
		errs = append(errs, fmt.Errorf("demo (SNIPPETD_DEMO) %q: want on or off", c.Demo))
	}
	// Outbox settings.
	if c.OutboxRetention, err = time.ParseDuration(retention); err != nil || c.OutboxRetention < time.Minute {
		errs = append(errs, fmt.Errorf("outbox-retention (SNIPPETD_OUTBOX_RETENTION) %q: want a duration of at least 1m such as 168h", retention))
	}
	if c.OutboxMaxBackoff, err = time.ParseDuration(maxBackoff); err != nil || c.OutboxMaxBackoff < time.Second {
		errs = append(errs, fmt.Errorf("outbox-max-backoff (SNIPPETD_OUTBOX_MAX_BACKOFF) %q: want a duration of at least 1s such as 1m", maxBackoff))
	}
	if c.CartTTL, err = time.ParseDuration(cartTTL); err != nil || c.CartTTL < time.Minute {
		errs = append(errs, fmt.Errorf("cart-ttl (SNIPPETD_CART_TTL) %q: want a duration of at least 1m such as 720h", cartTTL))
	}
	if len(errs) == 0 {
		errs = append(errs, c.Validate())
	}
	return c, errors.Join(errs...)
}

// Validate checks values that flags alone cannot type.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr (SNIPPETD_ADDR) %q: want host:port such as :8080", c.Addr))
	}
	if c.PublicKey != "" && !snippets.ValidPublicKey(c.PublicKey) {
		errs = append(errs, fmt.Errorf("public-key (SNIPPETD_PUBLIC_KEY) %q: want Klaviyo's 6-character public key (letters and digits)", c.PublicKey))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir (SNIPPETD_DATA_DIR) must not be empty"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("database-url (SNIPPETD_DATABASE_URL): want a postgres:// URL, or nothing for the embedded SQLite file"))
	}
	if c.CatalogMode != "feed" && c.CatalogMode != "api" {
		errs = append(errs, fmt.Errorf("catalog-mode (SNIPPETD_CATALOG_MODE) %q: want feed (serve /catalog.json and .xml) or api (snippetd catalog sync); Klaviyo fills a catalog from one or the other, never both", c.CatalogMode))
	}
	if c.Proxy {
		if !strings.HasPrefix(c.ProxyPrefix, "/") || !strings.HasSuffix(c.ProxyPrefix, "/") || strings.ContainsAny(c.ProxyPrefix, "{}?#% ") {
			errs = append(errs, fmt.Errorf("proxy-prefix (SNIPPETD_PROXY_PREFIX) %q: want a path with leading and trailing slash, such as /s/", c.ProxyPrefix))
		}
		if len(c.AllowedOrigins) == 0 {
			errs = append(errs, errors.New("allowed-origins (SNIPPETD_ALLOWED_ORIGINS) is required when the proxy is on: name the storefront origins, such as https://shop.example"))
		}
		if c.PublicKey == "" {
			errs = append(errs, errors.New("public-key (SNIPPETD_PUBLIC_KEY) is required when the proxy is on (it serves klaviyo.js for that key)"))
		}
		if u, err := url.Parse(c.KlaviyoStaticURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("klaviyo-static-url (SNIPPETD_KLAVIYO_STATIC_URL) %q: want an http(s) URL such as https://static.klaviyo.com", c.KlaviyoStaticURL))
		}
		if c.ProxyAnonymous != "drop" && c.ProxyAnonymous != "keep" {
			errs = append(errs, fmt.Errorf("proxy-anonymous (SNIPPETD_PROXY_ANONYMOUS) %q: want drop or keep", c.ProxyAnonymous))
		}
	}
	errs = append(errs, c.validateCarts()...)
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format (SNIPPETD_LOG_FORMAT) %q: want text or json", c.LogFormat))
	}
	// Klaviyo client settings.
	if u, err := url.Parse(c.KlaviyoURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("klaviyo-url (SNIPPETD_KLAVIYO_URL) %q: want an http(s) URL such as https://a.klaviyo.com", c.KlaviyoURL))
	}
	if !klaviyo.ValidRevision(c.KlaviyoRevision) {
		errs = append(errs, fmt.Errorf("klaviyo-revision (SNIPPETD_KLAVIYO_REVISION) %q: want YYYY-MM-DD[.suffix] such as 2026-07-15", c.KlaviyoRevision))
	}
	if strings.ContainsAny(c.PrivateKey, " \t\r\n") {
		errs = append(errs, errors.New("private-key (SNIPPETD_PRIVATE_KEY): must not contain whitespace"))
	}
	return errors.Join(errs...)
}

// DemoOn reports whether the demo shop is served: SNIPPETD_DEMO=on, or by
// default in local-sink mode (no private key).
func (c Config) DemoOn() bool { return c.Demo == "on" || c.Demo == "" && c.PrivateKey == "" }

// validateCarts checks the cart restore settings.
func (c Config) validateCarts() []error {
	var errs []error
	if c.CartRestore != "missing" && c.CartRestore != "always" && c.CartRestore != "off" {
		errs = append(errs, fmt.Errorf("cart-restore (SNIPPETD_CART_RESTORE) %q: want missing, always or off", c.CartRestore))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("public-url (SNIPPETD_PUBLIC_URL) %q: want an http(s) URL such as https://t.shop.example", c.PublicURL))
		}
		if c.CartRestoreURL == "" && !c.DemoOn() {
			errs = append(errs, errors.New("cart-restore-url (SNIPPETD_CART_RESTORE_URL) is required with public-url (SNIPPETD_PUBLIC_URL): the shop's restore URL, such as https://shop.example/cart/restore?items={items}"))
		}
	}
	if c.CartRestoreURL != "" {
		if _, err := carts.ParseTemplate(c.CartRestoreURL); err != nil {
			errs = append(errs, fmt.Errorf("cart-restore-url (SNIPPETD_CART_RESTORE_URL) %w", err))
		}
	}
	return errs
}

// loadProxy parses the proxy's settings; errors name flag and variable.
func (c *Config) loadProxy(on, origins, trusted, scriptTTL, metrics, consent, prate, pburst, pmaxEvents, pmaxBody string) []error {
	var errs []error
	switch strings.ToLower(on) {
	case "on", "true", "1":
		c.Proxy = true
	case "off", "false", "0", "":
	default:
		errs = append(errs, fmt.Errorf("proxy (SNIPPETD_PROXY) %q: want on or off", on))
	}
	for _, o := range splitList(origins) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("allowed-origins (SNIPPETD_ALLOWED_ORIGINS) %q: want an origin such as https://shop.example", o))
			continue
		}
		c.AllowedOrigins = append(c.AllowedOrigins, u.Scheme+"://"+u.Host)
	}
	for _, t := range splitList(trusted) {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				errs = append(errs, fmt.Errorf("trusted-proxies (SNIPPETD_TRUSTED_PROXIES) %q: want a CIDR such as 10.0.0.0/8 or an address", t))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	c.ProxyMetrics = splitList(metrics)
	d, err := time.ParseDuration(scriptTTL)
	if err != nil || d < time.Second {
		errs = append(errs, fmt.Errorf("proxy-script-ttl (SNIPPETD_PROXY_SCRIPT_TTL) %q: want a duration of at least 1s, such as 15m", scriptTTL))
	}
	c.ProxyScriptTTL = d
	b, err := strconv.ParseBool(consent)
	if err != nil {
		errs = append(errs, fmt.Errorf("proxy-require-consent (SNIPPETD_PROXY_REQUIRE_CONSENT) %q: want true or false", consent))
	}
	c.ProxyRequireConsent = b
	r, err := strconv.ParseFloat(prate, 64)
	if err != nil || r <= 0 {
		errs = append(errs, fmt.Errorf("proxy-rate (SNIPPETD_PROXY_RATE) %q: want a positive number of requests per second", prate))
	}
	c.ProxyRate = r
	n, err := strconv.Atoi(pburst)
	if err != nil || n < 1 {
		errs = append(errs, fmt.Errorf("proxy-burst (SNIPPETD_PROXY_BURST) %q: want a whole number of requests, at least 1", pburst))
	}
	c.ProxyBurst = n
	n, err = strconv.Atoi(pmaxEvents)
	if err != nil || n < 1 || n > 1000 {
		errs = append(errs, fmt.Errorf("proxy-max-events (SNIPPETD_PROXY_MAX_EVENTS) %q: want 1 to 1000", pmaxEvents))
	}
	c.ProxyMaxEvents = n
	m, err := strconv.ParseInt(pmaxBody, 10, 64)
	if err != nil || m < 1024 || m > 5<<20 {
		errs = append(errs, fmt.Errorf("proxy-max-body-bytes (SNIPPETD_PROXY_MAX_BODY_BYTES) %q: want 1024 to 5242880 bytes", pmaxBody))
	}
	c.ProxyMaxBodyBytes = m
	return errs
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// NewLogger returns the slog logger the config asks for, writing to w.
func (c Config) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
