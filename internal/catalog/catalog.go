package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/shop"
)

// Modes: how the catalog reaches Klaviyo. Klaviyo lets one catalog be
// filled either by a custom feed or by the Catalog API, never both (the
// integration guide: "you can only populate products using one option";
// to move to the API the feed must first be disabled).
const (
	ModeFeed = "feed"
	ModeAPI  = "api"
)

// ErrFeedDisabled is answered by the feed routes when the catalog is
// synced through the Catalog API.
var ErrFeedDisabled = apperr.Errorf(apperr.ECONFLICT,
	"the catalog feed is off because this catalog is sent with the Catalog API (SNIPPETD_CATALOG_MODE=api): "+
		"Klaviyo fills one catalog from a custom feed or from the Catalog API, never both, so serving a feed as well "+
		"would give Klaviyo two competing sources; set SNIPPETD_CATALOG_MODE=feed (and disable the API sync) to serve it")

// Options configure a Catalog.
type Options struct {
	// Mode is ModeFeed (serve /catalog.json and .xml) or ModeAPI (sync
	// with `snippetd catalog sync`).
	Mode string
	// File is the products file; empty means products live in the
	// database and are managed through PUT/PATCH /v1/catalog/products.
	File string
	// DB is the shared database (required).
	DB *db.DB
	// Dir is where snapshot files are created (they are unlinked at once).
	Dir string
	// PartBytes is the largest feed document; bigger feeds are split into
	// numbered parts (default DefaultPartBytes).
	PartBytes int64
	// Poll is how often the file (or the database's change counter) is
	// checked for changes; 0 turns watching off.
	Poll time.Duration
	// Logger receives load results and problems.
	Logger *slog.Logger
	// Currency (SNIPPETD_CURRENCY) is the ISO 4217 currency of the
	// products' prices: a price with more decimals than it has is refused,
	// and prices are written with its decimals exactly. Empty: cents.
	Currency string
}

// Catalog is the loaded catalog: the current snapshot, what the last load
// found wrong, and the count of events naming unknown products. All
// methods are safe for concurrent use.
type Catalog struct {
	opts  Options
	store store
	cur   atomic.Pointer[Snapshot]

	loadMu  sync.Mutex // one load at a time
	stamp   fileStamp  // the file as last loaded
	pending fileStamp  // a change seen once, loaded when seen again unchanged
	dbVer   int64      // the database counter as last loaded

	errMu    sync.Mutex // guards loadErr and loadedAt (never held during a load)
	loadErr  string
	loadedAt time.Time

	unknown unknownIDs
	stop    context.CancelFunc
	done    chan struct{}

	// Restocks sent in the background (restock.go) with api; Close ends
	// them through bgCtx and waits.
	apiMu  sync.Mutex
	api    APIClient
	bg     sync.WaitGroup
	bgCtx  context.Context
	bgStop context.CancelFunc
}

// fileStamp identifies a version of the products file without reading it.
type fileStamp struct {
	info os.FileInfo
}

func (a fileStamp) same(b os.FileInfo) bool {
	return a.info != nil && b != nil && os.SameFile(a.info, b) &&
		a.info.Size() == b.Size() && a.info.ModTime().Equal(b.ModTime())
}

// Open migrates the catalog's tables, loads the catalog once (an
// unreadable file is an error here, so a bad configuration fails at start)
// and starts watching for changes.
func Open(ctx context.Context, opts Options) (*Catalog, error) {
	if opts.DB == nil {
		return nil, errors.New("catalog: a database is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Mode == "" {
		opts.Mode = ModeFeed
	}
	if opts.Dir == "" {
		opts.Dir = os.TempDir()
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, err
	}
	c := &Catalog{opts: opts, store: store{opts.DB}}
	c.bgCtx, c.bgStop = context.WithCancel(context.Background())
	c.unknown.limit = unknownLimit
	if err := c.store.migrate(ctx); err != nil {
		return nil, err
	}
	if err := c.Reload(ctx); err != nil {
		return nil, err
	}
	if opts.Poll > 0 {
		wctx, cancel := context.WithCancel(context.Background())
		c.stop, c.done = cancel, make(chan struct{})
		go c.watch(wctx)
	}
	return c, nil
}

// Close stops watching and releases the current snapshot once no request
// reads it.
func (c *Catalog) Close() error {
	if c.stop != nil {
		c.stop()
		<-c.done
	}
	c.bgStop()
	c.bg.Wait()
	if s := c.cur.Swap(nil); s != nil {
		s.retire()
	}
	return nil
}

// PartBytes is the largest feed document before the feed is split.
func (c *Catalog) PartBytes() int64 {
	if c.opts.PartBytes <= 0 {
		return DefaultPartBytes
	}
	return c.opts.PartBytes
}

// Mode is ModeFeed or ModeAPI.
func (c *Catalog) Mode() string { return c.opts.Mode }

// FromFile reports whether products come from SNIPPETD_CATALOG_FILE (and
// so cannot be written through the API).
func (c *Catalog) FromFile() bool { return c.opts.File != "" }

// Acquire returns the current snapshot, kept readable until release is
// called even if a reload replaces it meanwhile.
func (c *Catalog) Acquire() (s *Snapshot, release func()) {
	for {
		s := c.cur.Load()
		if s == nil {
			return nil, func() {}
		}
		if s.tryAcquire() {
			return s, s.release
		}
	}
}

// watch polls for changes until ctx ends. Polling (a stat of the file, or
// one row of the database, every Poll) rather than inotify: it sees files
// replaced by rename (editors, deploy tools, Kubernetes ConfigMaps swap a
// symlink), works on network and bind-mounted file systems where inotify
// is silent, needs no dependency, and the same loop also picks up writes
// made by other instances sharing a PostgreSQL database.
func (c *Catalog) watch(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if changed, err := c.changed(ctx); err != nil {
			c.setLoadErr(err)
		} else if changed {
			if err := c.Reload(ctx); err != nil && ctx.Err() == nil {
				c.opts.Logger.Error("catalog reload failed; still serving the previous version", "err", err)
			}
		}
	}
}

// changed reports whether the source differs from what was last loaded.
func (c *Catalog) changed(ctx context.Context) (bool, error) {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if c.opts.File != "" {
		fi, err := os.Stat(c.opts.File)
		if err != nil {
			return false, fmt.Errorf("catalog file: %w", err)
		}
		// Load a change only once it has held still for one poll, so a
		// file being written in place is not read half-written.
		switch {
		case c.stamp.same(fi):
			c.pending = fileStamp{}
			return false, nil
		case c.pending.same(fi):
			return true, nil
		}
		c.pending = fileStamp{fi}
		return false, nil
	}
	v, _, err := c.store.version(ctx)
	return err == nil && v != c.dbVer, err
}

// Reload reads the source now and swaps in the new snapshot. On error
// the previous snapshot stays in service and the error is reported on
// the problems endpoint.
func (c *Catalog) Reload(ctx context.Context) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	s, err := c.load(ctx)
	if err != nil {
		c.setLoadErr(err)
		return err
	}
	c.setLoadErr(nil)
	c.errMu.Lock()
	c.loadedAt = time.Now().UTC()
	c.errMu.Unlock()
	if old := c.cur.Swap(s); old != nil {
		old.retire()
	}
	c.logLoad(s)
	if s.count >= 100_000 {
		// A big load leaves tens of megabytes of decoding garbage that the
		// runtime would otherwise keep mapped; serving needs none of it.
		debug.FreeOSMemory()
	}
	return nil
}

func (c *Catalog) load(ctx context.Context) (*Snapshot, error) {
	b, err := newBuilder(c.opts.Dir, c.opts.PartBytes)
	if err != nil {
		return nil, err
	}
	b.currency = c.opts.Currency
	if c.opts.File == "" {
		v, at, err := c.store.version(ctx)
		if err == nil {
			err = c.store.load(ctx, b)
		}
		if err != nil {
			b.abort()
			return nil, fmt.Errorf("catalog from database: %w", err)
		}
		s, err := b.finish("database", at)
		if err == nil {
			c.dbVer = v
		}
		return s, err
	}
	f, err := os.Open(c.opts.File)
	if err != nil {
		b.abort()
		return nil, fmt.Errorf("catalog file: %w", err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err == nil && before.Size() == 0 && c.cur.Load() != nil {
		err = errors.New("the file is empty (still being written?); keeping the previous version (an empty catalog is [])")
	}
	if err == nil {
		err = readProducts(f, c.opts.File, b)
	}
	if err != nil {
		b.abort()
		return nil, fmt.Errorf("catalog file %s: %w", c.opts.File, err)
	}
	// A file rewritten in place while we read it may have been read half
	// old, half new: drop this load; the next poll sees the change again.
	if after, err := os.Stat(c.opts.File); err != nil || !(fileStamp{before}).same(after) {
		b.abort()
		return nil, fmt.Errorf("catalog file %s changed while it was read; will read it again", c.opts.File)
	}
	s, err := b.finish("file "+c.opts.File, before.ModTime())
	if err == nil {
		c.stamp = fileStamp{before}
	}
	return s, err
}

func (c *Catalog) setLoadErr(err error) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	c.loadErr = ""
	if err != nil {
		c.loadErr = err.Error()
	}
}

func (c *Catalog) logLoad(s *Snapshot) {
	g := s.problems
	c.opts.Logger.Info("catalog loaded", "source", s.source, "products", s.count,
		"json_parts", len(s.parts[JSON]), "xml_parts", len(s.parts[XML]),
		KindMissing, g[KindMissing].Count, KindDuplicate, g[KindDuplicate].Count, KindInvalid, g[KindInvalid].Count)
	for _, kind := range []string{KindMissing, KindDuplicate, KindInvalid} {
		if pg := g[kind]; pg.Count > 0 {
			ids := make([]string, 0, 10)
			for _, p := range pg.Products[:min(10, len(pg.Products))] {
				ids = append(ids, fmt.Sprintf("%s@%d:%s", p.ID, p.Position, p.Field))
			}
			c.opts.Logger.Warn("catalog products left out of the feed", "problem", kind, "count", pg.Count, "first", ids)
		}
	}
	if len(s.parts[JSON]) > 1 || len(s.parts[XML]) > 1 {
		c.opts.Logger.Warn("catalog feed is split into parts; register each part URL listed on /catalog/index.json as its own feed in Klaviyo",
			"json_parts", len(s.parts[JSON]), "xml_parts", len(s.parts[XML]))
	}
}

// Put replaces every stored product with ps, then reloads, so the feed
// serves them when Put returns.
func (c *Catalog) Put(ctx context.Context, ps []shop.Product) error {
	return c.PutProducts(ctx, withoutFields(ps))
}

// Patch inserts or updates ps by id, then reloads.
func (c *Catalog) Patch(ctx context.Context, ps []shop.Product) error {
	return c.PatchProducts(ctx, withoutFields(ps))
}

func withoutFields(ps []shop.Product) []Product {
	out := make([]Product, len(ps))
	for i, p := range ps {
		out[i].Product = p
	}
	return out
}

// PutProducts replaces every stored product with ps, custom fields
// included (PUT /v1/catalog/products), then reloads.
func (c *Catalog) PutProducts(ctx context.Context, ps []Product) error { return c.write(ctx, ps, true) }

// PatchProducts inserts or updates ps by id (PATCH /v1/catalog/products),
// then reloads. A body that only changes variants' inventory is a restock
// (restock.go): it updates the stored variants and, with the Catalog API,
// sends only variant updates.
func (c *Catalog) PatchProducts(ctx context.Context, ps []Product) error {
	if isRestock(ps) {
		if c.opts.File != "" {
			return c.write(ctx, ps, false) // refused there, with the reason
		}
		return c.restock(ctx, ps)
	}
	return c.write(ctx, ps, false)
}

func (c *Catalog) write(ctx context.Context, ps []Product, replace bool) error {
	if c.opts.File != "" {
		return apperr.Errorf(apperr.ECONFLICT, "products come from SNIPPETD_CATALOG_FILE (%s); edit that file, or unset it to manage products through this API", c.opts.File)
	}
	if err := validateProducts(ps, c.opts.Currency); err != nil {
		return err
	}
	if err := c.store.write(ctx, inCurrency(ps, c.opts.Currency), replace); err != nil {
		return err
	}
	return c.Reload(ctx)
}

// Configured reports whether there is a catalog to check events against:
// a products file, or products written to the database at least once.
func (c *Catalog) Configured() bool {
	if c.opts.File != "" {
		return true
	}
	s := c.cur.Load()
	return s != nil && (s.count > 0 || !s.modified.IsZero())
}

// Observe counts productID when it names a product the catalog does not
// have. The render API and the proxy call it for every event carrying a
// ProductID, so that Klaviyo's product blocks and recommendations, which
// join events to the catalog by id, do not silently miss. It is cheap: a
// binary search over 8-byte hashes, and a mutex only for unknown ids.
func (c *Catalog) Observe(productID string) {
	if c == nil || productID == "" || !c.Configured() {
		return
	}
	if s := c.cur.Load(); s != nil && s.Has(productID) {
		return
	}
	c.unknown.add(productID)
}

// Report is the body of GET /v1/catalog/problems.
type Report struct {
	Mode     string    `json:"mode"`
	Source   string    `json:"source"`
	Products int       `json:"products"`
	LoadedAt time.Time `json:"loaded_at"`
	Modified time.Time `json:"modified,omitzero"`
	// LoadError is why the last load failed (the previous version is
	// still served); empty when it succeeded.
	LoadError string            `json:"load_error,omitempty"`
	Parts     map[string][]Part `json:"parts"`
	// MissingFields are products without a non-blank id, title, link,
	// description or image_link.
	MissingFields ProblemGroup `json:"missing_fields"`
	// DuplicateIDs are products repeating an earlier product's id.
	DuplicateIDs ProblemGroup `json:"duplicate_ids"`
	// Invalid are products that could not be decoded or break a rule
	// (URL, price, inventory_policy).
	Invalid ProblemGroup `json:"invalid"`
	// UnknownProductIDs counts events whose ProductID is not in the catalog.
	UnknownProductIDs UnknownReport `json:"unknown_product_ids"`
}

// Problems reports what the last load left out and the most frequent
// unknown product ids seen in events.
func (c *Catalog) Problems() Report {
	s, release := c.Acquire()
	defer release()
	r := Report{Mode: c.opts.Mode}
	c.errMu.Lock()
	r.LoadError, r.LoadedAt = c.loadErr, c.loadedAt
	c.errMu.Unlock()
	if s != nil {
		r.Source, r.Products, r.Modified = s.source, s.count, s.modified
		r.Parts = map[string][]Part{"json": s.parts[JSON], "xml": s.parts[XML]}
		r.MissingFields = *s.problems[KindMissing]
		r.DuplicateIDs = *s.problems[KindDuplicate]
		r.Invalid = *s.problems[KindInvalid]
	}
	for _, g := range []*ProblemGroup{&r.MissingFields, &r.DuplicateIDs, &r.Invalid} {
		if g.Products == nil {
			g.Products = []Problem{}
		}
	}
	r.UnknownProductIDs = c.unknown.report(20, s)
	return r
}

// unknownLimit bounds the distinct unknown ids tracked, so that a flood
// of random ids cannot grow memory.
const unknownLimit = 500

// unknownIDs counts unknown product ids with the space-saving algorithm:
// at most limit ids are tracked; a new id replaces the least counted one
// and inherits its count, so frequent ids are never lost and each count
// overestimates by at most the evicted count.
type unknownIDs struct {
	mu     sync.Mutex
	limit  int
	events int64
	counts map[string]int64
}

func (u *unknownIDs) add(id string) {
	if len(id) > 200 {
		id = id[:200]
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.events++
	if u.counts == nil {
		u.counts = map[string]int64{}
	}
	if n, ok := u.counts[id]; ok {
		u.counts[id] = n + 1
		return
	}
	if len(u.counts) < u.limit {
		u.counts[id] = 1
		return
	}
	minID, minN := "", int64(-1)
	for k, n := range u.counts {
		if minN < 0 || n < minN || n == minN && k < minID {
			minID, minN = k, n
		}
	}
	delete(u.counts, minID)
	u.counts[id] = minN + 1
}

// UnknownID is one product id seen in events but not in the catalog.
type UnknownID struct {
	ID    string `json:"id"`
	Count int64  `json:"count"`
}

// UnknownReport is how many events named unknown products, and the most
// frequent ids (ids the catalog has gained since are left out).
type UnknownReport struct {
	Events int64       `json:"events"`
	Top    []UnknownID `json:"top"`
}

func (u *unknownIDs) report(n int, s *Snapshot) UnknownReport {
	u.mu.Lock()
	r := UnknownReport{Events: u.events, Top: []UnknownID{}}
	for id, c := range u.counts {
		if s == nil || !s.Has(id) {
			r.Top = append(r.Top, UnknownID{id, c})
		}
	}
	u.mu.Unlock()
	sort.Slice(r.Top, func(i, j int) bool {
		a, b := r.Top[i], r.Top[j]
		return a.Count > b.Count || a.Count == b.Count && a.ID < b.ID
	})
	if len(r.Top) > n {
		r.Top = r.Top[:n]
	}
	return r
}
