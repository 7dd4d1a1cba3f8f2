// Package carts remembers the carts snippetd sees (render API Added to
// Cart and Started Checkout, the proxy's cart events, PUT /v1/carts/{id})
// in the shared database, and gives each version of a cart a restore link,
// {public url}/r/{token}, which the events carry as their CheckoutURL: an
// abandoned-cart email then brings the whole cart back on any device. The
// token is short, opaque and unforgeable (see token.go); the redirect goes
// to the shop's restore URL template, whose host is fixed at start-up.
package carts

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/shop"
)

// Mode says when an event's CheckoutURL becomes a restore link.
type Mode string

// Modes of SNIPPETD_CART_RESTORE.
const (
	// Missing gives a restore link to carts the shop sent without a
	// checkout_url (the default).
	Missing Mode = "missing"
	// Always replaces the shop's checkout_url too.
	Always Mode = "always"
	// Off remembers nothing and keeps every checkout_url.
	Off Mode = "off"
)

// DefaultTTL is how long a cart is remembered, and its links work, by
// default: 30 days.
const DefaultTTL = 30 * 24 * time.Hour

// Options configures a Service.
type Options struct {
	// PublicURL is where browsers reach snippetd, such as
	// https://t.shop.example; links are PublicURL + "/r/" + token.
	PublicURL string
	// Template is the shop's restore URL (ParseTemplate).
	Template *Template
	// Mode says when CheckoutURL is replaced (default Missing).
	Mode Mode
	// TTL is how long a version is kept after it was last seen, and a link
	// works after it was issued (default DefaultTTL).
	TTL time.Duration
	// PruneEvery is how often expired versions are deleted (default 1h);
	// PruneBatch is how many rows one DELETE removes (default 500), so a
	// large backlog never holds the write connection long.
	PruneEvery time.Duration
	PruneBatch int
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
	// Logger receives storage failures (default discarded).
	Logger *slog.Logger
}

// Service remembers carts and resolves their restore tokens. Open it with
// Open; it is safe for concurrent use.
type Service struct {
	db     *db.DB
	opts   Options
	secret Secret
	base   string // PublicURL + "/r/"
	log    *slog.Logger

	stop chan struct{}
	done sync.WaitGroup
}

var migrations = []string{
	`CREATE TABLE cart_versions (
		key TEXT PRIMARY KEY,
		cart_id TEXT NOT NULL,
		items TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		seen_at BIGINT NOT NULL
	)`,
	`CREATE INDEX cart_versions_seen ON cart_versions (seen_at)`,
	`CREATE TABLE cart_secret (
		id INTEGER PRIMARY KEY,
		secret TEXT NOT NULL
	)`,
}

// Open migrates the carts tables in d, reads (or, on the first start,
// creates) the server secret every instance on d shares, and starts
// pruning.
func Open(ctx context.Context, d *db.DB, o Options) (*Service, error) {
	if o.Template == nil || o.PublicURL == "" {
		return nil, errors.New("carts: PublicURL and Template are required")
	}
	if o.Mode == "" {
		o.Mode = Missing
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = time.Hour
	}
	if o.PruneBatch <= 0 {
		o.PruneBatch = 500
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := d.Migrate(ctx, "carts", migrations); err != nil {
		return nil, err
	}
	secret, err := loadSecret(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("carts secret: %w", err)
	}
	s := &Service{db: d, opts: o, secret: secret, base: strings.TrimSuffix(o.PublicURL, "/") + "/r/", log: o.Logger, stop: make(chan struct{})}
	s.done.Add(1)
	go s.pruneLoop()
	return s, nil
}

// loadSecret returns the shared secret, creating it when there is none
// (ON CONFLICT: the first of several starting instances wins).
func loadSecret(ctx context.Context, d *db.DB) (Secret, error) {
	var b [secretLen]byte
	rand.Read(b[:])
	if _, err := d.Write.ExecContext(ctx, d.Rebind(`INSERT INTO cart_secret (id, secret) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`), hex.EncodeToString(b[:])); err != nil {
		return Secret{}, err
	}
	var h string
	if err := d.Write.QueryRowContext(ctx, `SELECT secret FROM cart_secret WHERE id = 1`).Scan(&h); err != nil {
		return Secret{}, err
	}
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != secretLen {
		return Secret{}, errors.New("stored secret is malformed")
	}
	return NewSecret(raw), nil
}

// Close stops pruning.
func (s *Service) Close() error {
	close(s.stop)
	s.done.Wait()
	return nil
}

// Template is the restore URL template.
func (s *Service) Template() *Template { return s.opts.Template }

// lines is the stored (and hashed) form of a cart's items.
func lines(c *shop.Cart) []byte {
	b, _ := json.Marshal(c.Items) // plain data: cannot fail
	return b
}

// worth reports whether a cart can be restored at all.
func worth(c *shop.Cart) bool { return c.ID != "" && len(c.Items) > 0 }

// LinkCart makes c's CheckoutURL its restore link when the mode asks for
// one, without I/O, and reports whether it did; RememberCarts must then
// store c before the link is sent anywhere. The proxy calls the two apart
// so that nothing is stored for events it drops.
func (s *Service) LinkCart(c *shop.Cart, now time.Time) bool {
	if !s.wantsLink(c) {
		return false
	}
	c.CheckoutURL = s.Link(s.secret.key(c.ID, lines(c)), now)
	return true
}

// wantsLink reports whether c gets a restore link.
func (s *Service) wantsLink(c *shop.Cart) bool {
	return worth(c) && s.opts.Mode != Off && (s.opts.Mode == Always || c.CheckoutURL == "")
}

// Link is the restore link of version k issued at now.
func (s *Service) Link(k Key, now time.Time) string { return s.base + s.secret.Mint(k, now) }

// RememberCarts stores each cart's version, or marks it seen at now.
func (s *Service) RememberCarts(ctx context.Context, carts []shop.Cart, now time.Time) error {
	for i := range carts {
		if _, err := s.remember(ctx, &carts[i], now); err != nil {
			return err
		}
	}
	return nil
}

// remember stores c and returns its version key; a cart without an id or
// lines is not stored (Put's caller refuses it first).
func (s *Service) remember(ctx context.Context, c *shop.Cart, now time.Time) (Key, error) {
	if !worth(c) {
		return Key{}, nil
	}
	b := lines(c)
	k := s.secret.key(c.ID, b)
	ms := now.UnixMilli()
	_, err := s.db.Write.ExecContext(ctx, s.db.Rebind(`INSERT INTO cart_versions (key, cart_id, items, created_at, seen_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET seen_at = excluded.seen_at WHERE cart_versions.seen_at < excluded.seen_at`),
		k.String(), c.ID, string(b), ms, ms)
	if err != nil {
		return Key{}, fmt.Errorf("carts: remember: %w", err)
	}
	return k, nil
}

// Put stores a cart the shop's server sent (PUT /v1/carts/{id}) and
// returns its restore link, whatever the mode.
func (s *Service) Put(ctx context.Context, c shop.Cart) (link string, err error) {
	now := s.opts.Now()
	k, err := s.remember(ctx, &c, now)
	if err != nil {
		return "", err
	}
	return s.Link(k, now), nil
}

// LinkNow remembers c and then, when the mode asks for it, makes its
// CheckoutURL the restore link: the render API's one call. A storage
// failure is logged and leaves the shop's CheckoutURL: the snippet still
// renders, without a link that would restore nothing.
func (s *Service) LinkNow(ctx context.Context, c *shop.Cart) {
	if !s.wantsLink(c) {
		return
	}
	now := s.opts.Now()
	k, err := s.remember(ctx, c, now)
	if err != nil {
		s.log.Error("carts: cart not remembered; CheckoutURL left as sent", "err", err)
		return
	}
	c.CheckoutURL = s.Link(k, now)
}

// Outcome is what a restore token turned out to be.
type Outcome string

// Outcomes of Restore, as the metrics count them.
const (
	Restored Outcome = "restored"
	Expired  Outcome = "expired"
	Invalid  Outcome = "invalid"
)

// Version is one remembered version of a cart.
type Version struct {
	CartID  string          `json:"cart_id"`
	Items   []shop.LineItem `json:"items"`
	Created time.Time       `json:"created_at"`
}

// Restore resolves a token: Invalid when it is malformed or not made with
// this server's secret (no query is made), Expired when it was issued
// longer than the TTL ago or its version is gone, else Restored with the
// version.
func (s *Service) Restore(ctx context.Context, tok string) (Version, Outcome, error) {
	k, issued, ok := s.secret.Verify(tok)
	if !ok {
		return Version{}, Invalid, nil
	}
	if s.opts.Now().Sub(issued) > s.opts.TTL {
		return Version{}, Expired, nil
	}
	var v Version
	var items string
	var created int64
	err := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT cart_id, items, created_at FROM cart_versions WHERE key = ?`), k.String()).Scan(&v.CartID, &items, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, Expired, nil
	}
	if err != nil {
		return Version{}, "", fmt.Errorf("carts: restore: %w", err)
	}
	if err := json.Unmarshal([]byte(items), &v.Items); err != nil {
		return Version{}, "", fmt.Errorf("carts: stored items: %w", err)
	}
	v.Created = time.UnixMilli(created).UTC()
	return v, Restored, nil
}

// RedirectURL is where GET /r/{token} sends the shopper for version v.
func (s *Service) RedirectURL(v Version, tok, query string) string {
	return s.opts.Template.Expand(v.CartID, v.Items, tok, query)
}

func (s *Service) pruneLoop() {
	defer s.done.Done()
	t := time.NewTicker(s.opts.PruneEvery)
	defer t.Stop()
	for {
		if n, err := s.Prune(context.Background()); err != nil {
			s.log.Warn("carts: prune failed", "err", err)
		} else if n > 0 {
			s.log.Info("carts: pruned expired cart versions", "rows", n, "ttl", s.opts.TTL)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// Prune deletes the versions not seen for the TTL, PruneBatch rows per
// statement, and returns how many it deleted.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	cut := s.opts.Now().Add(-s.opts.TTL).UnixMilli()
	q := s.db.Rebind(`DELETE FROM cart_versions WHERE key IN (SELECT key FROM cart_versions WHERE seen_at < ? LIMIT ?)`)
	var total int64
	for {
		select {
		case <-s.stop:
			return total, nil
		default:
		}
		res, err := s.db.Write.ExecContext(ctx, q, cut, s.opts.PruneBatch)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < int64(s.opts.PruneBatch) {
			return total, nil
		}
	}
}
