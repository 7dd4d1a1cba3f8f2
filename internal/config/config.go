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
	"github.com/snippetd/snippetd/shop"
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
	// ListID is the Klaviyo list subscriptions go to when a request names
	// none (SNIPPETD_LIST_ID); SMSListID, when set, the list of SMS
	// subscriptions (SNIPPETD_SMS_LIST_ID).
	ListID, SMSListID string
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
	// AccessLog logs one line per request (method, path without query,
	// status, bytes, duration, remote) with the same logger
	// (SNIPPETD_ACCESS_LOG, default off).
	AccessLog bool
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
	// Demo shop and inspector.

	// Demo serves the demo shop at /demo/: "on", "off", "force" or ""
	// (the default: on when no private key is configured, that is in
	// local-sink mode) (SNIPPETD_DEMO). With a private key only "force"
	// turns it on: its checkout sends Placed Order for any email to the
	// real account without the API token.
	Demo string

	// Outbox settings.

	// OutboxRetention is how long delivered events stay in the outbox
	// before pruning, for audits and replays (SNIPPETD_OUTBOX_RETENTION,
	// default 168h = 7 days).
	OutboxRetention time.Duration
	// OutboxMaxBackoff caps the wait between delivery retries when Klaviyo
	// gives no Retry-After (SNIPPETD_OUTBOX_MAX_BACKOFF, default 1m).
	OutboxMaxBackoff time.Duration
	// OutboxJobLinger is how long a bulk subscription job smaller than
	// Klaviyo's maximum waits for more of its kind, so a burst goes out in
	// full jobs (SNIPPETD_OUTBOX_JOB_LINGER, default 1s).
	OutboxJobLinger time.Duration

	// Retention of the tables that grow with traffic, pruned continuously
	// in small batches: dead letters in the outbox
	// (SNIPPETD_OUTBOX_DEAD_RETENTION, default 720h = 30 days), orders
	// and their actions after their last event (SNIPPETD_ORDERS_RETENTION,
	// default 2160h = 90 days) and the proxy's browser identities after
	// their last identify (SNIPPETD_PROXY_RETENTION, default 9600h = 400
	// days, the browser cookie's lifetime).
	OutboxDeadRetention, OrdersRetention, ProxyRetention time.Duration
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
	// PrivateKeyFile is SNIPPETD_PRIVATE_KEY_FILE, when the key came from
	// a file: the server re-reads it, so a fixed key is taken up without a
	// restart.
	PrivateKeyFile string
	// KlaviyoURL is Klaviyo's base URL (SNIPPETD_KLAVIYO_URL, default
	// https://a.klaviyo.com); tests and demos point it at the fake.
	KlaviyoURL string
	// KlaviyoRevision is the API revision header (SNIPPETD_KLAVIYO_REVISION,
	// default 2026-07-15; format YYYY-MM-DD[.suffix]).
	KlaviyoRevision string

	// Shop defaults for order data.

	// DefaultCountry (ISO 3166-1 alpha-2, SNIPPETD_DEFAULT_COUNTRY, no
	// default) reads national phone numbers that come without an address
	// country; empty: such numbers are dropped, never guessed.
	DefaultCountry string
	// DefaultTimezone reads order times written without a zone
	// (SNIPPETD_DEFAULT_TIMEZONE, an IANA name, default UTC).
	DefaultTimezone *time.Location
	// Currency is the ISO 4217 currency of orders, snippets and the catalog
	// feed that name none (SNIPPETD_CURRENCY, default none: Klaviyo's
	// account currency).
	Currency string
}

// Env looks up an environment variable; os.Getenv in production, a map in
// tests.
type Env func(string) string

// Load builds a Config from args (flags, without the program name) and env,
// then validates it. Errors name the flag and variable at fault.
func Load(args []string, env Env, output io.Writer) (Config, error) {
	c, _, err := load(args, env, output)
	return c, err
}

// load is Load that also returns the name of every environment variable
// the settings read (for UnknownEnv).
func load(args []string, env Env, output io.Writer) (Config, []string, error) {
	if env == nil {
		env = os.Getenv
	}
	var c Config
	fs := flag.NewFlagSet("snippetd serve", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: snippetd serve [flags]\n\n"+
			"Every flag is also a SNIPPETD_ environment variable (the flag wins). Switches take\n"+
			"on/off, true/false, yes/no or 1/0 in any case (-proxy, -proxy=off, SNIPPETD_PROXY=on).\n\nflags:\n")
		fs.PrintDefaults()
	}
	var errs []error
	var names []string
	// lookup reads envName and remembers that it is a setting.
	lookup := func(envName string) string {
		names = append(names, envName)
		return strings.TrimSpace(env(envName))
	}
	str := func(p *string, name, envName, def, help string) {
		v := def
		if e := lookup(envName); e != "" {
			v = e
		}
		fs.StringVar(p, name, v, fmt.Sprintf("%s (env %s)", help, envName))
	}
	// secret is a string whose value -h never shows: the flag's default is
	// empty and the value from the environment is put in place after the
	// flag is defined.
	secret := func(p *string, name, envName, help string) {
		v := lookup(envName)
		if f := lookup(envName + "_FILE"); f != "" {
			if v != "" {
				errs = append(errs, fmt.Errorf("set %s or %s_FILE, not both", envName, envName))
			}
			b, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: %v", envName, err))
			}
			v = strings.TrimSpace(string(b))
		}
		fs.StringVar(p, name, "", fmt.Sprintf("%s (env %s or %s_FILE)", help, envName, envName))
		*p = v
	}
	// envErr records an environment value that is not of its setting's
	// type; the flag keeps the default.
	envErr := func(name, envName, e, want string) {
		errs = append(errs, fmt.Errorf("%s (%s) %q: want %s", name, envName, e, want))
	}
	boolean := func(p *bool, name, envName string, def bool, help string) {
		*p = def
		if e := lookup(envName); e != "" {
			if b, ok := ParseBool(e); ok {
				*p = b
			} else {
				envErr(name, envName, e, boolWant)
			}
		}
		fs.Var((*boolValue)(p), name, fmt.Sprintf("%s (env %s)", help, envName))
	}
	dur := func(p *time.Duration, name, envName string, def time.Duration, help string) {
		v := def
		if e := lookup(envName); e != "" {
			if d, err := time.ParseDuration(e); err == nil {
				v = d
			} else {
				envErr(name, envName, e, "a duration such as "+def.String())
			}
		}
		fs.DurationVar(p, name, v, fmt.Sprintf("%s (env %s)", help, envName))
	}
	i64 := func(p *int64, name, envName string, def int64, help string) {
		v := def
		if e := lookup(envName); e != "" {
			if n, err := strconv.ParseInt(e, 10, 64); err == nil {
				v = n
			} else {
				envErr(name, envName, e, "a whole number")
			}
		}
		fs.Int64Var(p, name, v, fmt.Sprintf("%s (env %s)", help, envName))
	}
	integer := func(p *int, name, envName string, def int, help string) {
		v := def
		if e := lookup(envName); e != "" {
			if n, err := strconv.Atoi(e); err == nil {
				v = n
			} else {
				envErr(name, envName, e, "a whole number")
			}
		}
		fs.IntVar(p, name, v, fmt.Sprintf("%s (env %s)", help, envName))
	}
	float := func(p *float64, name, envName string, def float64, help string) {
		v := def
		if e := lookup(envName); e != "" {
			if x, err := strconv.ParseFloat(e, 64); err == nil {
				v = x
			} else {
				envErr(name, envName, e, "a number")
			}
		}
		fs.Float64Var(p, name, v, fmt.Sprintf("%s (env %s)", help, envName))
	}

	str(&c.Addr, "addr", "SNIPPETD_ADDR", ":8080", "listen address")
	str(&c.PublicKey, "public-key", "SNIPPETD_PUBLIC_KEY", "", "Klaviyo public key (6-character site id) for the loader")
	str(&c.ListID, "list-id", "SNIPPETD_LIST_ID", "", "Klaviyo list id of subscriptions that name none")
	str(&c.SMSListID, "sms-list-id", "SNIPPETD_SMS_LIST_ID", "", "Klaviyo list id of SMS subscriptions (default: the list id)")
	str(&c.DataDir, "data-dir", "SNIPPETD_DATA_DIR", "./data", "directory for the embedded database and caches")
	secret(&c.APIToken, "api-token", "SNIPPETD_API_TOKEN", "bearer token for the write APIs")
	secret(&c.DatabaseURL, "database-url", "SNIPPETD_DATABASE_URL", "PostgreSQL URL (postgres://...); empty uses the embedded SQLite file")
	var level string
	str(&level, "log-level", "SNIPPETD_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	str(&c.LogFormat, "log-format", "SNIPPETD_LOG_FORMAT", "text", "log format: text or json")
	boolean(&c.AccessLog, "access-log", "SNIPPETD_ACCESS_LOG", false, "log every request: method, path (no query), status, bytes, duration, remote address")
	i64(&c.MaxBodyBytes, "max-body-bytes", "SNIPPETD_MAX_BODY_BYTES", 1<<20, "largest accepted request body, in bytes")
	dur(&c.ShutdownTimeout, "shutdown-timeout", "SNIPPETD_SHUTDOWN_TIMEOUT", 15*time.Second, "grace period for in-flight requests on shutdown")

	// Catalog.
	str(&c.CatalogMode, "catalog-mode", "SNIPPETD_CATALOG_MODE", "feed", "catalog to Klaviyo by custom feed (feed) or Catalog API sync (api); never both")
	str(&c.CatalogFile, "catalog-file", "SNIPPETD_CATALOG_FILE", "", "products file (JSON array, JSON lines or .csv), reloaded on change; empty keeps products in the database")
	dur(&c.CatalogPoll, "catalog-poll", "SNIPPETD_CATALOG_POLL", 2*time.Second, "how often the catalog source is checked for changes (0 = never)")
	i64(&c.CatalogPartBytes, "catalog-part-bytes", "SNIPPETD_CATALOG_PART_BYTES", 100000000, "largest catalog feed document, in bytes, before splitting into parts")
	i64(&c.CatalogMaxBodyBytes, "catalog-max-body-bytes", "SNIPPETD_CATALOG_MAX_BODY_BYTES", 32<<20, "largest PUT/PATCH /v1/catalog/products body, in bytes")

	// First-party proxy.
	var origins, trusted, metrics string
	boolean(&c.Proxy, "proxy", "SNIPPETD_PROXY", false, "first-party proxy for browser events")
	str(&c.ProxyPrefix, "proxy-prefix", "SNIPPETD_PROXY_PREFIX", "/s/", "path prefix of the proxy routes")
	if env("SNIPPETD_PROXY_ADDR") != "" {
		// A removed setting is refused rather than ignored: a reverse
		// proxy still routing {prefix} to that address would lose events.
		errs = append(errs, errors.New("SNIPPETD_PROXY_ADDR is no longer supported: the proxy's routes are served on addr (SNIPPETD_ADDR) only; route the proxy prefix there and unset it"))
	}
	str(&origins, "allowed-origins", "SNIPPETD_ALLOWED_ORIGINS", "", "comma-separated storefront origins allowed to post to the proxy")
	str(&trusted, "trusted-proxies", "SNIPPETD_TRUSTED_PROXIES", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed")
	str(&c.KlaviyoStaticURL, "klaviyo-static-url", "SNIPPETD_KLAVIYO_STATIC_URL", "https://static.klaviyo.com", "where the proxy fetches klaviyo.js")
	dur(&c.ProxyScriptTTL, "proxy-script-ttl", "SNIPPETD_PROXY_SCRIPT_TTL", 15*time.Minute, "how long a fetched klaviyo.js is fresh")
	str(&metrics, "proxy-metrics", "SNIPPETD_PROXY_METRICS", "", "comma-separated custom metric names browsers may send through the proxy")
	str(&c.ProxyAnonymous, "proxy-anonymous", "SNIPPETD_PROXY_ANONYMOUS", "drop", "events from browsers with no identifier: drop or keep (with anonymous_id)")
	boolean(&c.ProxyRequireConsent, "proxy-require-consent", "SNIPPETD_PROXY_REQUIRE_CONSENT", false, "drop proxy events whose body lacks \"consent\": true")
	float(&c.ProxyRate, "proxy-rate", "SNIPPETD_PROXY_RATE", 5, "proxy requests per second allowed per client IP")
	integer(&c.ProxyBurst, "proxy-burst", "SNIPPETD_PROXY_BURST", 20, "proxy request burst per client IP")
	integer(&c.ProxyMaxEvents, "proxy-max-events", "SNIPPETD_PROXY_MAX_EVENTS", 50, "most events per proxy request")
	i64(&c.ProxyMaxBodyBytes, "proxy-max-body-bytes", "SNIPPETD_PROXY_MAX_BODY_BYTES", 65536, "largest proxy request body, in bytes")
	// Demo shop: unset means on without a private key.
	if e := lookup("SNIPPETD_DEMO"); e != "" {
		if err := (*demoValue)(&c.Demo).Set(e); err != nil {
			envErr("demo", "SNIPPETD_DEMO", e, demoWant)
		}
	}
	fs.Var((*demoValue)(&c.Demo), "demo", "demo shop at /demo/: on, off, or force (needed with a private key) (default: on when no private key is set) (env SNIPPETD_DEMO)")
	// Outbox settings.
	dur(&c.OutboxRetention, "outbox-retention", "SNIPPETD_OUTBOX_RETENTION", 168*time.Hour, "how long delivered events are kept before pruning")
	dur(&c.OutboxMaxBackoff, "outbox-max-backoff", "SNIPPETD_OUTBOX_MAX_BACKOFF", time.Minute, "longest wait between delivery retries without a Retry-After")
	dur(&c.OutboxJobLinger, "outbox-job-linger", "SNIPPETD_OUTBOX_JOB_LINGER", time.Second, "how long a part-full bulk subscription job waits for more of its kind")
	dur(&c.OutboxDeadRetention, "outbox-dead-retention", "SNIPPETD_OUTBOX_DEAD_RETENTION", 720*time.Hour, "how long dead-lettered events are kept for replay before pruning")
	dur(&c.OrdersRetention, "orders-retention", "SNIPPETD_ORDERS_RETENTION", 2160*time.Hour, "how long an order and its actions are kept after its last event")
	dur(&c.ProxyRetention, "proxy-retention", "SNIPPETD_PROXY_RETENTION", 9600*time.Hour, "how long a browser identity is kept after its last identify")

	// Cart restore links.
	str(&c.PublicURL, "public-url", "SNIPPETD_PUBLIC_URL", "", "public base URL of snippetd for cart restore links (empty: off)")
	dur(&c.CartTTL, "cart-ttl", "SNIPPETD_CART_TTL", 720*time.Hour, "how long carts are remembered and their restore links work")
	str(&c.CartRestore, "cart-restore", "SNIPPETD_CART_RESTORE", "missing", "when CheckoutURL becomes a restore link: missing, always or off")
	str(&c.CartRestoreURL, "cart-restore-url", "SNIPPETD_CART_RESTORE_URL", "", "shop's restore URL template with {items}, {cart_id}, {token}")

	// Klaviyo client settings.
	secret(&c.PrivateKey, "private-key", "SNIPPETD_PRIVATE_KEY", "Klaviyo private API key for server-side events (prefer the _FILE variable)")
	c.PrivateKeyFile = lookup("SNIPPETD_PRIVATE_KEY_FILE")
	str(&c.KlaviyoURL, "klaviyo-url", "SNIPPETD_KLAVIYO_URL", "https://a.klaviyo.com", "Klaviyo API base URL")
	str(&c.KlaviyoRevision, "klaviyo-revision", "SNIPPETD_KLAVIYO_REVISION", "2026-07-15", "Klaviyo API revision header (YYYY-MM-DD[.suffix])")

	var country, tz, currency string
	str(&country, "default-country", "SNIPPETD_DEFAULT_COUNTRY", "", "ISO 3166-1 alpha-2 country for national phone numbers without an address country (empty: not guessed)")
	str(&tz, "default-timezone", "SNIPPETD_DEFAULT_TIMEZONE", "UTC", "IANA time zone of order times written without a zone")
	str(&currency, "currency", "SNIPPETD_CURRENCY", "", "ISO 4217 currency of orders, snippets and catalog items that name none")

	if err := fs.Parse(args); err != nil {
		return c, names, err
	}
	errs = append(errs, c.loadShop(country, tz, currency)...)
	if fs.NArg() > 0 {
		hint := ""
		if _, ok := ParseBool(fs.Arg(0)); ok {
			hint = " (a switch takes its value after =, such as -proxy=on)"
		}
		errs = append(errs, fmt.Errorf("unexpected arguments: %q%s", fs.Args(), hint))
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("log-level (SNIPPETD_LOG_LEVEL) %q: want debug, info, warn or error", level))
	}
	// Enumerations are matched in any case, as booleans are.
	c.LogFormat = strings.ToLower(c.LogFormat)
	c.CatalogMode = strings.ToLower(c.CatalogMode)
	c.ProxyAnonymous = strings.ToLower(c.ProxyAnonymous)
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("max-body-bytes (SNIPPETD_MAX_BODY_BYTES) %d: want a whole number of bytes, at least 1024", c.MaxBodyBytes))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown-timeout (SNIPPETD_SHUTDOWN_TIMEOUT) %s: want a duration such as 15s", c.ShutdownTimeout))
	}
	if c.CatalogPoll < 0 {
		errs = append(errs, fmt.Errorf("catalog-poll (SNIPPETD_CATALOG_POLL) %s: want a duration such as 2s, or 0", c.CatalogPoll))
	}
	if c.CatalogPartBytes < 1024 {
		errs = append(errs, fmt.Errorf("catalog-part-bytes (SNIPPETD_CATALOG_PART_BYTES) %d: want a whole number of bytes, at least 1024", c.CatalogPartBytes))
	}
	if c.CatalogMaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("catalog-max-body-bytes (SNIPPETD_CATALOG_MAX_BODY_BYTES) %d: want a whole number of bytes, at least 1024", c.CatalogMaxBodyBytes))
	}
	errs = append(errs, c.loadProxy(origins, trusted, metrics)...)
	// Outbox settings.
	if c.OutboxRetention < time.Minute {
		errs = append(errs, fmt.Errorf("outbox-retention (SNIPPETD_OUTBOX_RETENTION) %s: want a duration of at least 1m such as 168h", c.OutboxRetention))
	}
	if c.OutboxJobLinger < 0 || c.OutboxJobLinger > time.Minute {
		errs = append(errs, fmt.Errorf("outbox-job-linger (SNIPPETD_OUTBOX_JOB_LINGER) %s: want a duration from 0 to 1m such as 1s", c.OutboxJobLinger))
	}
	if c.OutboxMaxBackoff < time.Second {
		errs = append(errs, fmt.Errorf("outbox-max-backoff (SNIPPETD_OUTBOX_MAX_BACKOFF) %s: want a duration of at least 1s such as 1m", c.OutboxMaxBackoff))
	}
	for _, r := range []struct {
		d         time.Duration
		name, env string
	}{
		{c.OutboxDeadRetention, "outbox-dead-retention", "SNIPPETD_OUTBOX_DEAD_RETENTION"},
		{c.OrdersRetention, "orders-retention", "SNIPPETD_ORDERS_RETENTION"},
		{c.ProxyRetention, "proxy-retention", "SNIPPETD_PROXY_RETENTION"},
	} {
		if r.d < time.Minute {
			errs = append(errs, fmt.Errorf("%s (%s) %s: want a duration of at least 1m", r.name, r.env, r.d))
		}
	}
	if c.CartTTL < time.Minute {
		errs = append(errs, fmt.Errorf("cart-ttl (SNIPPETD_CART_TTL) %s: want a duration of at least 1m such as 720h", c.CartTTL))
	}
	if len(errs) == 0 {
		errs = append(errs, c.Validate())
	}
	return c, names, errors.Join(errs...)
}

// Validate checks values that flags alone cannot type.
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr (SNIPPETD_ADDR) %q: want host:port such as :8080", c.Addr))
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		errs = append(errs, fmt.Errorf("addr (SNIPPETD_ADDR) %q: the port must be a number from 0 to 65535, such as :8080", c.Addr))
	}
	if c.PublicKey != "" && !snippets.ValidPublicKey(c.PublicKey) {
		errs = append(errs, fmt.Errorf("public-key (SNIPPETD_PUBLIC_KEY) %q: want Klaviyo's 6-character public key (letters and digits)", c.PublicKey))
	}
	for _, l := range []struct{ name, env, v string }{{"list-id", "SNIPPETD_LIST_ID", c.ListID}, {"sms-list-id", "SNIPPETD_SMS_LIST_ID", c.SMSListID}} {
		if l.v != "" && !klaviyo.ValidListID(l.v) {
			errs = append(errs, fmt.Errorf("%s (%s) %q: want a Klaviyo list id (six letters and digits, such as Y6nRLr)", l.name, l.env, l.v))
		}
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
	if c.Demo == "on" && c.PrivateKey != "" {
		errs = append(errs, errors.New("demo (SNIPPETD_DEMO) on with a private key: the demo checkout would send Placed Order for any email to the real Klaviyo account, without the API token; set SNIPPETD_DEMO=force to run it anyway, or unset the private key to use the local sink"))
	}
	if strings.ContainsAny(c.PrivateKey, " \t\r\n") {
		errs = append(errs, errors.New("private-key (SNIPPETD_PRIVATE_KEY): must not contain whitespace"))
	}
	return errors.Join(errs...)
}

// DemoOn reports whether the demo shop is served: SNIPPETD_DEMO=on, or by
// default in local-sink mode (no private key).
func (c Config) DemoOn() bool {
	return c.Demo == "on" || c.Demo == "force" || c.Demo == "" && c.PrivateKey == ""
}

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

// loadProxy parses the proxy's lists and checks its ranges; errors name
// flag and variable.
func (c *Config) loadProxy(origins, trusted, metrics string) []error {
	var errs []error
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
	if c.ProxyScriptTTL < time.Second {
		errs = append(errs, fmt.Errorf("proxy-script-ttl (SNIPPETD_PROXY_SCRIPT_TTL) %s: want a duration of at least 1s, such as 15m", c.ProxyScriptTTL))
	}
	if !(c.ProxyRate > 0) {
		errs = append(errs, fmt.Errorf("proxy-rate (SNIPPETD_PROXY_RATE) %v: want a positive number of requests per second", c.ProxyRate))
	}
	if c.ProxyBurst < 1 {
		errs = append(errs, fmt.Errorf("proxy-burst (SNIPPETD_PROXY_BURST) %d: want a whole number of requests, at least 1", c.ProxyBurst))
	}
	if c.ProxyMaxEvents < 1 || c.ProxyMaxEvents > 1000 {
		errs = append(errs, fmt.Errorf("proxy-max-events (SNIPPETD_PROXY_MAX_EVENTS) %d: want 1 to 1000", c.ProxyMaxEvents))
	}
	if c.ProxyMaxBodyBytes < 1024 || c.ProxyMaxBodyBytes > 5<<20 {
		errs = append(errs, fmt.Errorf("proxy-max-body-bytes (SNIPPETD_PROXY_MAX_BODY_BYTES) %d: want 1024 to 5242880 bytes", c.ProxyMaxBodyBytes))
	}
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

// boolWant is what a boolean setting accepts, for error messages.
const boolWant = "on or off (also true/false, yes/no, 1/0, in any case)"

// ParseBool reads a boolean setting: on/off, true/false, yes/no or 1/0, in
// any case and with surrounding spaces ignored. Every boolean setting and
// flag takes the same spellings.
func ParseBool(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "on", "true", "yes", "1":
		return true, true
	case "off", "false", "no", "0":
		return false, true
	}
	return false, false
}

// boolValue is a bool flag that takes ParseBool's spellings; -h shows it
// as a switch (-proxy, -proxy=off).
type boolValue bool

func (b *boolValue) Set(s string) error {
	v, ok := ParseBool(s)
	if !ok {
		return errors.New("want " + boolWant)
	}
	*b = boolValue(v)
	return nil
}

func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

// demoWant is what SNIPPETD_DEMO accepts, for error messages.
const demoWant = boolWant + ", or force"

// demoValue is a bool flag whose unset state means "decide from the
// other settings" (SNIPPETD_DEMO): it holds "", "on" or "off".
type demoValue string

func (v *demoValue) Set(s string) error {
	if strings.EqualFold(strings.TrimSpace(s), "force") {
		*v = "force"
		return nil
	}
	b, ok := ParseBool(s)
	if !ok {
		return errors.New("want " + demoWant)
	}
	*v = demoValue(onOff(b))
	return nil
}

func (v *demoValue) String() string   { return string(*v) }
func (v *demoValue) IsBoolFlag() bool { return true }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// UnknownEnv returns, for each SNIPPETD_ variable in environ (KEY=value
// pairs, as os.Environ returns) that is no setting, a warning naming the
// closest setting by edit distance. A misspelt variable is otherwise
// silently ignored and its setting keeps the default. Values are never
// part of the warning: they may be secrets.
func UnknownEnv(environ []string) []string {
	_, names, _ := load(nil, func(string) string { return "" }, io.Discard)
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	var warnings []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "SNIPPETD_") || known[k] {
			continue
		}
		best, bestD := "", -1
		for _, n := range names {
			if d := editDistance(k, n); bestD < 0 || d < bestD {
				best, bestD = n, d
			}
		}
		warnings = append(warnings, fmt.Sprintf("%s is not a setting and is ignored; did you mean %s?", k, best))
	}
	return warnings
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (variable names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// loadShop parses the shop defaults for order data; errors name flag and
// variable.
func (c *Config) loadShop(country, tz, cur string) []error {
	var errs []error
	c.DefaultCountry = strings.ToUpper(strings.TrimSpace(country))
	if c.DefaultCountry != "" && !shop.PhoneCountry(c.DefaultCountry) {
		errs = append(errs, fmt.Errorf("default-country (SNIPPETD_DEFAULT_COUNTRY) %q: want an ISO 3166-1 alpha-2 code such as US or GB", country))
	}
	loc, err := time.LoadLocation(strings.TrimSpace(tz))
	if err != nil || strings.TrimSpace(tz) == "" || strings.EqualFold(strings.TrimSpace(tz), "local") {
		errs = append(errs, fmt.Errorf("default-timezone (SNIPPETD_DEFAULT_TIMEZONE) %q: want an IANA time zone such as UTC or Europe/Berlin", tz))
	}
	c.DefaultTimezone = loc
	c.Currency = strings.TrimSpace(cur)
	if c.Currency != "" {
		if _, ok := shop.CurrencyDigits(c.Currency); !ok {
			errs = append(errs, fmt.Errorf("currency (SNIPPETD_CURRENCY) %q: want an ISO 4217 code such as USD or EUR", cur))
		}
	}
	return errs
}
