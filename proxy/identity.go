package proxy

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// KlaviyoCookie is the cookie klaviyo.js sets on the shop's domain: base64
// of a JSON object that carries $exchange_id once the visitor is
// identified (older cookies carry $email instead).
const KlaviyoCookie = "__kla_id"

// BrowserCookie is the proxy's own first-party cookie: a random browser id
// (128 bits, base64url) that keys the identity stored in the database. It
// is HttpOnly and set by the server, so Safari's seven-day cap on
// script-set cookies does not shorten it the way it shortens __kla_id.
const BrowserCookie = "sd_bid"

// browserCookieMaxAge is the lifetime of BrowserCookie: 400 days, the most
// Chromium allows.
const browserCookieMaxAge = 400 * 24 * time.Hour

// parseKlaID reads the exchange id and the legacy email out of a __kla_id
// cookie value. Anything unreadable yields nothing: the cookie is
// script-set and may be garbage.
func parseKlaID(v string) (kx, email string) {
	if u, err := url.QueryUnescape(v); err == nil {
		v = u
	}
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 4096 {
		return "", ""
	}
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			raw = b
			break
		}
	}
	if raw == nil {
		return "", ""
	}
	var c struct {
		ExchangeID any `json:"$exchange_id"`
		Email      any `json:"$email"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return "", ""
	}
	if s, ok := c.ExchangeID.(string); ok {
		kx, _ = validateKx(s, "")
	}
	if s, ok := c.Email.(string); ok {
		if cl, err := validateProfile(wireProfile{Email: s}, ""); err == nil {
			email = cl.Email
		}
	}
	return kx, email
}

// kxFromURL returns the _kx query parameter of a page URL (the Referer of
// a request sent from the landing page of an email click).
func kxFromURL(raw string) string {
	if raw == "" || len(raw) > 8192 {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	kx, _ := validateKx(u.Query().Get("_kx"), "")
	return kx
}

// browserIDBytes is the random length of a browser id (128 bits).
const browserIDBytes = 16

// newBrowserID returns a fresh random browser id.
func newBrowserID() string {
	var b [browserIDBytes]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validBrowserID reports whether id could have come from newBrowserID.
func validBrowserID(id string) bool {
	if len(id) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// Identity is what the proxy remembers about one browser: what it
// identified as (through identify or an event's profile) and the last
// exchange id it presented.
type Identity struct {
	Claim
	Kx string
}

// Store keeps browser identities in the shared database (table
// proxy_browsers), so every instance behind a load balancer sees the same
// identity for a browser. Writes go through db.Write (on SQLite the one
// write connection the outbox also queues on), never racing for SQLite's
// write lock.
//
// What events teach (an exchange id from __kla_id, a profile sent along)
// is written behind: PutLater keeps it in memory, visible to Get at once,
// and a flusher writes everything waiting in one transaction. Event
// requests therefore never wait for a commit of their own (with
// synchronous=FULL that is an fsync each), and losing the last few
// milliseconds of them in a crash costs nothing: the cookie still carries
// the exchange id. Identify, the one thing only the server remembers, is
// written with Put before it is acknowledged.
type Store struct {
	db *db.DB

	mu       sync.Mutex
	dirty    map[string]Identity // waiting to be written
	flushing map[string]Identity // being written now
	wake     chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
	dropped  int64
	log      *slog.Logger

	// writeMu orders the flusher's writes with Put and Delete: a flush
	// holds it from taking the waiting identities until they are written
	// (or put back after a failure), Put and Delete while they write. So
	// an identity an event taught a moment before an identify or a
	// forget can never be written over it.
	writeMu sync.Mutex
	// beforeWrite, when set (tests), runs in flush between taking the
	// waiting identities and writing them.
	beforeWrite func()

	// cache is a bounded read-through cache of identities read from or
	// written to the database (ok false: the browser has none), so a
	// returning browser costs no database read per request. This
	// instance's own writes (Put, PutLater, Delete) update it; another
	// instance's identify reaches it only when the entry expires after
	// cacheTTL. writes counts this instance's writes, so that a read that
	// raced a write does not put what it read over the newer value.
	cache      map[string]cachedIdentity
	cacheBytes int // held by cache, as identityBytes counts
	dirtyBytes int // held by dirty
	writes     uint64
	now        func() time.Time

	// idKey keys AnonymousID; shared through the database, so every
	// instance gives a browser the same anonymous id, across restarts.
	idKey []byte
}

// loadSecret returns the random secret called name from the shared
// database, creating it on first use (the first instance to insert wins).
func loadSecret(ctx context.Context, d *db.DB, name string) ([]byte, error) {
	var b [32]byte
	rand.Read(b[:])
	if _, err := d.Write.ExecContext(ctx, d.Rebind(`INSERT INTO proxy_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`),
		name, base64.RawStdEncoding.EncodeToString(b[:])); err != nil {
		return nil, err
	}
	var v string
	if err := d.QueryRowContext(ctx, d.Rebind(`SELECT value FROM proxy_secrets WHERE name = ?`), name).Scan(&v); err != nil {
		return nil, err
	}
	return base64.RawStdEncoding.DecodeString(v)
}

// AnonymousID is what Klaviyo and the inspector see of browser id: a keyed
// hash of it, stable per browser. The browser id itself is the HttpOnly
// cookie's value, and whoever reads it could act as that browser; the hash
// cannot be turned back into it.
func (s *Store) AnonymousID(id string) string {
	m := hmac.New(sha256.New, s.idKey)
	m.Write([]byte(id))
	return "sd-" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// cachedIdentity is one entry of Store.cache.
type cachedIdentity struct {
	idn     Identity
	ok      bool
	expires time.Time
}

// cacheTTL bounds how long an identity read from the database is trusted
// without reading it again: how late another instance's identify (or
// forget) of the same browser is seen here.
const cacheTTL = 30 * time.Second

// cacheMax and cacheMaxBytes bound the cached identities (about 200
// bytes each, at most about 1.4 KB with every field at its limit); beyond
// either an arbitrary entry is evicted for each new one.
const (
	cacheMax      = 100_000
	cacheMaxBytes = 16 << 20
)

// maxDirty and maxDirtyBytes bound the identities waiting to be written;
// beyond either new ones are dropped (and counted) rather than growing
// memory.
const (
	maxDirty      = 50_000
	maxDirtyBytes = 16 << 20
)

// identityBytes approximates the memory one map entry for browser id
// holds: its strings and a fixed overhead for the entry itself.
func identityBytes(id string, idn Identity) int {
	return 96 + len(id) + len(idn.Email) + len(idn.PhoneNumber) + len(idn.ExternalID) + len(idn.FirstName) + len(idn.LastName) + len(idn.Kx)
}

// putDirtyLocked records idn as waiting to be written, unless the bounds
// are reached; s.mu must be held.
func (s *Store) putDirtyLocked(id string, idn Identity) bool {
	old, ok := s.dirty[id]
	n := identityBytes(id, idn)
	if ok {
		n -= identityBytes(id, old)
	} else if len(s.dirty) >= maxDirty {
		return false
	}
	if s.dirtyBytes+n > maxDirtyBytes {
		return false
	}
	s.dirty[id] = idn
	s.dirtyBytes += n
	return true
}

// deleteDirtyLocked forgets what waits for browser id; s.mu must be held.
func (s *Store) deleteDirtyLocked(id string) {
	if old, ok := s.dirty[id]; ok {
		s.dirtyBytes -= identityBytes(id, old)
		delete(s.dirty, id)
	}
}

// migrations are the proxy's schema steps; append, never edit.
var migrations = []string{
	`CREATE TABLE proxy_browsers (
		id TEXT PRIMARY KEY,
		email TEXT NOT NULL DEFAULT '',
		phone_number TEXT NOT NULL DEFAULT '',
		external_id TEXT NOT NULL DEFAULT '',
		first_name TEXT NOT NULL DEFAULT '',
		last_name TEXT NOT NULL DEFAULT '',
		kx TEXT NOT NULL DEFAULT '',
		updated_at BIGINT NOT NULL)`,
	`CREATE INDEX proxy_browsers_updated ON proxy_browsers (updated_at)`,
	`CREATE TABLE proxy_secrets (
		name TEXT PRIMARY KEY,
		value TEXT NOT NULL)`,
}

// OpenStore migrates the proxy's table and prunes identities untouched for
// longer than the browser cookie lives. logger receives write failures of
// the flusher (nil discards them).
func OpenStore(ctx context.Context, d *db.DB, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := d.Migrate(ctx, "proxy", migrations); err != nil {
		return nil, err
	}
	s := &Store{db: d, dirty: map[string]Identity{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}), log: logger,
		cache: map[string]cachedIdentity{}, now: time.Now}
	key, err := loadSecret(ctx, d, "browser_id_key")
	if err != nil {
		return nil, err
	}
	s.idKey = key
	cutoff := time.Now().Add(-browserCookieMaxAge).Unix()
	if _, err := d.Write.ExecContext(ctx, d.Rebind(`DELETE FROM proxy_browsers WHERE updated_at < ?`), cutoff); err != nil {
		return nil, err
	}
	go s.flushLoop()
	return s, nil
}

// Close writes what is waiting and stops the flusher.
func (s *Store) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.stopped
	return nil
}

// PutLater records the identity of browser id for writing behind (see
// Store). Get sees it at once.
func (s *Store) PutLater(id string, idn Identity) {
	s.mu.Lock()
	if !s.putDirtyLocked(id, idn) {
		s.dropped++
		s.mu.Unlock()
		return
	}
	s.cacheLocked(id, idn, true)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// flushInterval spaces the flusher's transactions, so that a stream of
// new browsers costs a few commits a second, not one each: on SQLite they
// share the single writer with the outbox's group commits.
const flushInterval = 250 * time.Millisecond

func (s *Store) flushLoop() {
	defer close(s.stopped)
	for {
		select {
		case <-s.wake:
		case <-s.stop:
			s.flush()
			return
		}
		s.flush()
		select {
		case <-time.After(flushInterval):
		case <-s.stop:
			s.flush()
			return
		}
	}
}

// flush writes every waiting identity in one transaction.
func (s *Store) flush() {
	n, err := s.flushOnce()
	if err != nil {
		s.log.Warn("proxy: writing browser identities failed; will retry", "n", n, "err", err)
		time.Sleep(100 * time.Millisecond)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// flushOnce writes what is waiting, holding writeMu throughout.
func (s *Store) flushOnce() (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	batch := s.dirty
	if len(batch) == 0 {
		s.mu.Unlock()
		return 0, nil
	}
	s.dirty, s.flushing, s.dirtyBytes = map[string]Identity{}, batch, 0
	s.mu.Unlock()
	if s.beforeWrite != nil {
		s.beforeWrite()
	}
	err := s.writeBatch(context.Background(), batch, time.Now())
	s.mu.Lock()
	s.flushing = nil
	if err != nil {
		// Put back what newer writes have not replaced, and try again on
		// the next wake.
		for id, idn := range batch {
			if _, newer := s.dirty[id]; !newer {
				if !s.putDirtyLocked(id, idn) {
					s.uncacheLocked(id) // lost: do not claim it is stored
				}
			}
		}
	}
	s.mu.Unlock()
	return len(batch), err
}

func (s *Store) writeBatch(ctx context.Context, batch map[string]Identity, now time.Time) error {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, s.db.Rebind(upsertQuery))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for id, idn := range batch {
		if _, err := stmt.ExecContext(ctx, id, idn.Email, idn.PhoneNumber, idn.ExternalID, idn.FirstName, idn.LastName, idn.Kx, now.Unix()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const upsertQuery = `INSERT INTO proxy_browsers (id, email, phone_number, external_id, first_name, last_name, kx, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET email = excluded.email, phone_number = excluded.phone_number,
			external_id = excluded.external_id, first_name = excluded.first_name, last_name = excluded.last_name,
			kx = excluded.kx, updated_at = excluded.updated_at`

// Get returns the identity stored for browser id; ok is false when there
// is none.
func (s *Store) Get(ctx context.Context, id string) (idn Identity, ok bool, err error) {
	s.mu.Lock()
	idn, ok = s.dirty[id]
	if !ok {
		idn, ok = s.flushing[id]
	}
	var writes uint64
	if !ok {
		if c, hit := s.cache[id]; hit && s.now().Before(c.expires) {
			s.mu.Unlock()
			return c.idn, c.ok, nil
		}
		writes = s.writes
	}
	s.mu.Unlock()
	if ok {
		return idn, true, nil
	}
	row := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT email, phone_number, external_id, first_name, last_name, kx FROM proxy_browsers WHERE id = ?`), id)
	err = row.Scan(&idn.Email, &idn.PhoneNumber, &idn.ExternalID, &idn.FirstName, &idn.LastName, &idn.Kx)
	if errors.Is(err, sql.ErrNoRows) {
		idn, ok, err = Identity{}, false, nil
	} else {
		ok = err == nil
	}
	if err == nil {
		s.mu.Lock()
		if s.writes == writes {
			s.cacheLocked(id, idn, ok)
		}
		s.mu.Unlock()
	}
	return idn, ok, err
}

// cacheLocked records what the database holds (or will hold) for browser
// id and counts it as a write; s.mu must be held.
func (s *Store) cacheLocked(id string, idn Identity, ok bool) {
	s.writes++
	if old, present := s.cache[id]; present {
		s.cacheBytes -= identityBytes(id, old.idn)
		delete(s.cache, id)
	}
	n := identityBytes(id, idn)
	for k, c := range s.cache {
		if len(s.cache) < cacheMax && s.cacheBytes+n <= cacheMaxBytes {
			break
		}
		s.cacheBytes -= identityBytes(k, c.idn)
		delete(s.cache, k)
	}
	s.cache[id] = cachedIdentity{idn: idn, ok: ok, expires: s.now().Add(cacheTTL)}
	s.cacheBytes += n
}

// uncacheLocked drops browser id from the cache, so the next Get reads
// the database; s.mu must be held.
func (s *Store) uncacheLocked(id string) {
	s.writes++
	if old, present := s.cache[id]; present {
		s.cacheBytes -= identityBytes(id, old.idn)
		delete(s.cache, id)
	}
}

// Put stores the identity of browser id, replacing what was there.
// A pending PutLater for the same browser is superseded.
func (s *Store) Put(ctx context.Context, id string, idn Identity, now time.Time) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	s.deleteDirtyLocked(id)
	s.uncacheLocked(id)
	s.mu.Unlock()
	_, err := s.db.Write.ExecContext(ctx, s.db.Rebind(upsertQuery),
		id, idn.Email, idn.PhoneNumber, idn.ExternalID, idn.FirstName, idn.LastName, idn.Kx, now.Unix())
	s.mu.Lock()
	if err == nil {
		s.cacheLocked(id, idn, true)
	} else {
		s.uncacheLocked(id) // unknown outcome: read it again
	}
	s.mu.Unlock()
	return err
}

// Delete forgets browser id (consent withdrawn).
func (s *Store) Delete(ctx context.Context, id string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	s.deleteDirtyLocked(id)
	s.uncacheLocked(id)
	s.mu.Unlock()
	_, err := s.db.Write.ExecContext(ctx, s.db.Rebind(`DELETE FROM proxy_browsers WHERE id = ?`), id)
	s.mu.Lock()
	if err == nil {
		s.cacheLocked(id, Identity{}, false)
	} else {
		s.uncacheLocked(id)
	}
	s.mu.Unlock()
	return err
}

// Signals are what one request says about its browser's identity: the
// inputs of Resolve.
type Signals struct {
	Stored    Identity // from the database, keyed by BrowserCookie
	CookieKx  string   // __kla_id $exchange_id
	CookieEm  string   // __kla_id $email (old cookies)
	LandingKx string   // _kx of the landing page (body field or Referer)
	Claim     Claim    // the request body's profile
}

// Resolve decides which profile a request's events belong to and what to
// remember for the browser. The rules, in order:
//
//  1. The freshest exchange id wins: the landing page's _kx, then the
//     cookie's $exchange_id, then the stored one. A fresh one that differs
//     from the stored one means another person clicked an email link in
//     this browser, so the stored claim is forgotten.
//  2. A body profile may add identifiers to a browser that has none, but
//     may not replace the identifiers it is known by (that takes an
//     explicit identify): a differing email, phone or external id is a
//     422 naming the field.
//  3. The profile sent to Klaviyo carries one source of identity only:
//     the claimed identifiers and names if there are any, else _kx, else
//     the legacy cookie email. It never pairs a browser-asserted email with
//     an exchange id, because Klaviyo would write that email onto the
//     exchange id's profile — exactly the "override an identified
//     profile's email" trick the proxy must refuse.
//
// The returned profile has no identifier when the browser is anonymous.
func Resolve(s Signals) (klaviyo.Profile, Identity, error) {
	next := s.Stored
	fresh := s.LandingKx
	if fresh == "" {
		fresh = s.CookieKx
	}
	if fresh != "" {
		if next.Kx != "" && next.Kx != fresh {
			next.Claim = Claim{}
		}
		next.Kx = fresh
	}
	c := s.Claim
	if c.HasIdentifier() || c.FirstName != "" || c.LastName != "" {
		if next.Claim.HasIdentifier() {
			switch {
			case c.Email != "" && c.Email != next.Email:
				return klaviyo.Profile{}, s.Stored, apperr.FieldErrorf("profile.email", "differs from the profile this browser is identified as; send an identify to switch")
			case c.PhoneNumber != "" && c.PhoneNumber != next.PhoneNumber:
				return klaviyo.Profile{}, s.Stored, apperr.FieldErrorf("profile.phone_number", "differs from the profile this browser is identified as; send an identify to switch")
			case c.ExternalID != "" && c.ExternalID != next.ExternalID:
				return klaviyo.Profile{}, s.Stored, apperr.FieldErrorf("profile.external_id", "differs from the profile this browser is identified as; send an identify to switch")
			}
		}
		merge(&next.Claim, c)
	}
	var p klaviyo.Profile
	switch {
	case next.Claim.HasIdentifier():
		p = claimProfile(next.Claim)
	case next.Kx != "":
		p.Kx = next.Kx
	case s.CookieEm != "":
		p.Email = s.CookieEm
	}
	return p, next, nil
}

// merge copies the non-empty fields of c into dst.
func merge(dst *Claim, c Claim) {
	// Field by field: a table of pointers into dst (the earlier form)
	// moved every request's identity to the heap.
	dst.Email = cmp.Or(c.Email, dst.Email)
	dst.PhoneNumber = cmp.Or(c.PhoneNumber, dst.PhoneNumber)
	dst.ExternalID = cmp.Or(c.ExternalID, dst.ExternalID)
	dst.FirstName = cmp.Or(c.FirstName, dst.FirstName)
	dst.LastName = cmp.Or(c.LastName, dst.LastName)
}

// claimProfile is the profile the proxy sends to Klaviyo for what a
// browser claims, which the browser proves none of. The proxy sends with
// the private key, and Klaviyo's server API then merges the identifiers
// one profile carries (an email and a phone number become one profile)
// and changes an existing profile's identifiers, both of which its public
// client API refuses a browser. So the profile carries one identifier, the
// first of email, phone_number and external_id: a browser cannot attach
// its phone or id to somebody else's email, nor change the email of the
// profile an id or phone names. Names go along as the client API takes
// them. Merging identifiers is left to the server-side APIs (orders,
// backfill), whose callers hold the API token.
func claimProfile(c Claim) klaviyo.Profile {
	p := klaviyo.Profile{FirstName: c.FirstName, LastName: c.LastName}
	switch {
	case c.Email != "":
		p.Email = c.Email
	case c.PhoneNumber != "":
		p.PhoneNumber = c.PhoneNumber
	default:
		p.ExternalID = c.ExternalID
	}
	return p
}
