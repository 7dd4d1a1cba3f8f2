// Package outbox is snippetd's durable queue in front of Klaviyo: Enqueue
// returns only after the events are committed to the shared database (so an
// API that answers 202 never loses what it acknowledged, even to kill -9),
// and one delivery loop drives a klaviyo.Sender until every event is
// delivered or kept as a dead letter with Klaviyo's response.
//
// Concurrent enqueues share one transaction (group commit), so durable
// throughput does not collapse to one fsync per event. On PostgreSQL several
// instances share the queue and a session advisory lock elects the one
// instance whose loop delivers, so the account's rate limit holds across
// instances. It imports db, klaviyo and the root package.
package outbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/metrics"
)

// Options tunes an Outbox. The zero value of each field means its default.
type Options struct {
	// Retention is how long delivered rows are kept before pruning
	// (default 7 days).
	Retention time.Duration
	// PollInterval is how often an idle loop looks for events that another
	// instance (or the CLI's replay) stored (default 500ms).
	PollInterval time.Duration
	// MaxBackoff caps the wait after consecutive retryable failures without
	// a Retry-After (default 1m).
	MaxBackoff time.Duration
	// RoundInterval is the least time between the starts of two delivery
	// rounds while events keep arriving (default 100ms). An idle loop
	// starts a round as soon as an event is stored; a steady stream is read
	// in batches, not a round per commit, so it goes out in bulk requests
	// once a batch passes BulkThreshold, and each round's bookkeeping (one
	// transaction on the database's single writer) is shared by its whole
	// batch. A round that read a full window starts the next at once.
	RoundInterval time.Duration
	// BulkThreshold is the pending backlog above which the loop switches
	// from single events to bulk requests (default 100 events, about two
	// seconds of the single endpoint's steady 3,500/min).
	BulkThreshold int
	// SingleConcurrency is how many single-event requests (for distinct
	// profiles) are in flight at once (default 8).
	SingleConcurrency int
	// BulkConcurrency is how many bulk requests (for disjoint profiles)
	// are in flight at once (default 3).
	BulkConcurrency int
	// BulkRequestsPerRound is how many bulk requests the loop plans from
	// one read of the queue (default 10, so a read of 10,000 rows).
	BulkRequestsPerRound int
	// MaxBulkEvents caps the events of one bulk request (default and
	// Klaviyo's maximum 1,000).
	MaxBulkEvents int
	// MaxBulkBytes caps the estimated encoded size of one bulk request
	// (default 4.5 MB, under Klaviyo's 5 MB).
	MaxBulkBytes int
	// MaxBatchRows caps the rows of one group-commit transaction
	// (default 2,000).
	MaxBatchRows int
	// Committers is the number of group-commit goroutines (default 1 on
	// SQLite, whose writes are serial anyway, 4 on PostgreSQL).
	Committers int
	// LeaderPoll is how often a standby instance tries to become the
	// delivering leader, and how often the leader checks its lock
	// connection (default 1s).
	LeaderPoll time.Duration
	// Logger receives delivery errors and leadership changes.
	Logger *slog.Logger
	// Metrics observes each request, dead letter and 429 wait (default
	// metrics.Nop).
	Metrics metrics.Deliveries
}

func (o *Options) setDefaults(d db.Dialect) {
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	defi := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.Retention, 7*24*time.Hour)
	def(&o.PollInterval, 500*time.Millisecond)
	def(&o.MaxBackoff, time.Minute)
	def(&o.RoundInterval, 100*time.Millisecond)
	def(&o.LeaderPoll, time.Second)
	defi(&o.BulkThreshold, 100)
	defi(&o.SingleConcurrency, 8)
	defi(&o.BulkConcurrency, 3)
	defi(&o.BulkRequestsPerRound, 10)
	defi(&o.MaxBulkEvents, 1000)
	defi(&o.MaxBulkBytes, 4_500_000)
	defi(&o.MaxBatchRows, 2000)
	if d == db.Postgres {
		defi(&o.Committers, 4)
	} else {
		defi(&o.Committers, 1)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Nop{}
	}
}

// ErrClosed is returned by Enqueue after Close.
var ErrClosed = errors.New("outbox: closed")

// Outbox is the durable event queue. Open one per process on the shared
// database; Enqueue is safe for concurrent use; Run delivers.
type Outbox struct {
	db   *db.DB
	opts Options
	log  *slog.Logger

	reqs      chan *enqueueReq
	handing   sync.RWMutex // read-held while Enqueue hands a request over (see hand)
	closing   chan struct{}
	closeOnce sync.Once
	committed chan struct{} // closed when every committer has exited
	wake      chan struct{} // nudges the delivery loop after a commit

	leader    atomic.Bool
	running   atomic.Bool
	lastErr   atomic.Pointer[loopError]
	delivered atomic.Int64
	dead      atomic.Int64
	retries   atomic.Int64
	requests  atomic.Int64
	commits   atomic.Int64 // group-commit transactions, for tests and metrics
	rounds    atomic.Int64 // delivery rounds that read events, for tests

	// stmts caches the prepared multi-row INSERT per row count (see
	// insertStmt); only the commit loop uses it, Close closes it.
	stmtsMu sync.Mutex
	stmts   map[int]*sql.Stmt
}

type loopError struct {
	msg string
	at  time.Time
}

type enqueueReq struct {
	rows []row
	done chan error // buffered (1): the committer never waits on it
}

// reqPool recycles enqueue requests with their done channels and rows.
// Enqueue puts a request back only after receiving its answer: the
// committer's send on done is its last use of the request (commitBatch),
// so nothing else holds it then. A request whose Enqueue returned early
// (context done) is left to the garbage collector instead.
var reqPool = sync.Pool{New: func() any { return &enqueueReq{done: make(chan error, 1)} }}

// maxPooledRows caps the rows capacity a pooled request keeps, so that one
// large batch does not pin its slice for the proxy's single events.
const maxPooledRows = 64

func getReq(n int) *enqueueReq {
	r := reqPool.Get().(*enqueueReq)
	if cap(r.rows) < n {
		r.rows = make([]row, n)
	}
	r.rows = r.rows[:n]
	return r
}

func putReq(r *enqueueReq) {
	if cap(r.rows) > maxPooledRows {
		r.rows = nil
	} else {
		clear(r.rows) // drop the payloads and strings
		r.rows = r.rows[:0]
	}
	reqPool.Put(r)
}

// row is one event as stored.
type row struct {
	id         int64
	uniqueID   string
	profileKey string
	metric     string
	source     string
	payload    []byte
	createdAt  int64
}

// Open migrates the outbox tables and starts the group committers.
func Open(ctx context.Context, d *db.DB, opts Options) (*Outbox, error) {
	opts.setDefaults(d.Dialect)
	if err := migrate(ctx, d); err != nil {
		return nil, err
	}
	o := &Outbox{
		db:        d,
		opts:      opts,
		log:       opts.Logger,
		reqs:      make(chan *enqueueReq, 4096),
		closing:   make(chan struct{}),
		committed: make(chan struct{}),
		wake:      make(chan struct{}, 1),
	}
	var wg sync.WaitGroup
	for range opts.Committers {
		wg.Go(o.commitLoop)
	}
	go func() { wg.Wait(); close(o.committed) }()
	return o, nil
}

// Ready reports whether Enqueue accepts events (for /readyz): not after
// Close.
func (o *Outbox) Ready(ctx context.Context) error {
	select {
	case <-o.closing:
		return ErrClosed
	default:
		return nil
	}
}

// Close stops accepting events, commits those already handed over, and
// returns. It does not stop Run: cancel Run's context for that.
func (o *Outbox) Close() error {
	o.closeOnce.Do(func() { close(o.closing) })
	<-o.committed
	o.stmtsMu.Lock()
	defer o.stmtsMu.Unlock()
	var err error
	for n, st := range o.stmts {
		err = errors.Join(err, st.Close())
		delete(o.stmts, n)
	}
	return err
}

// Enqueue stores events durably and returns only once they are committed:
// a nil error means they will be delivered (or dead-lettered) even if the
// process is killed right after. Events without a UniqueID get a random one
// here, written back into events, so that a resend after a crash is
// deduplicated by Klaviyo. source names the producer ("orders", ...) for
// status and dead-letter listings. Every event is checked in full
// (klaviyo.Event.ValidateAt: metric, profile identifier, time range,
// properties limits, 5 MB) so that nothing Klaviyo would refuse is
// acknowledged; a batch with an invalid event is refused as EINVALID naming
// the field, such as events[2].metric (ETOOLARGE for an event over 5 MB),
// storing nothing. Storage failures are EUNAVAILABLE (nothing was stored).
func (o *Outbox) Enqueue(ctx context.Context, events []klaviyo.Event, source string) error {
	if len(events) == 0 {
		return nil
	}
	r := getReq(len(events))
	if err := buildRows(r.rows, events, source, time.Now()); err != nil {
		putReq(r)
		return err
	}
	if err := o.hand(ctx, r); err != nil {
		putReq(r)
		return err
	}
	// Handed over, r is answered (see hand); the committer wakes the
	// delivery loop.
	var err error
	select {
	case err = <-r.done:
	case <-ctx.Done():
		// The request may still commit; it was not acknowledged, and a
		// retry by the caller is deduplicated only if it carries ids.
		return ctx.Err()
	}
	n := len(r.rows)
	putReq(r) // answered: the committer is done with it
	if err != nil {
		o.log.Error("outbox: storing events failed", "source", source, "events", n, "err", err)
		return apperr.Errorf(apperr.EUNAVAILABLE, "could not store events; nothing was accepted, retry later")
	}
	return nil
}

// buildRows checks and encodes events into rows (as long as events),
// giving each event without a UniqueID a random one (see Enqueue).
func buildRows(rows []row, events []klaviyo.Event, source string, at time.Time) error {
	now := at.UnixMilli()
	latest := at.AddDate(1, 0, 0)
	for i := range events {
		e := &events[i]
		if e.UniqueID == "" {
			e.UniqueID = NewUniqueID()
		}
		// The checks with their own messages first, then the full
		// validation (a one-pass scan, about a tenth of the encoding
		// below; it used to cost 7× the encoding and was skipped here).
		field := func(f string) string { return fmt.Sprintf("events[%d].%s", i, f) }
		switch {
		case strings.TrimSpace(e.Metric) == "":
			return apperr.FieldErrorf(field("metric"), "is required")
		case !e.Profile.HasIdentifier():
			return apperr.FieldErrorf(field("profile"), "needs at least one of email, phone_number, external_id, _kx, anonymous_id")
		case !e.Time.IsZero() && (e.Time.Year() < 1990 || e.Time.After(latest)):
			return apperr.FieldErrorf(field("time"), "must be between 1990 and one year from now")
		}
		payload, err := e.AppendJSON(nil)
		if err != nil {
			return apperr.FieldErrorf(fmt.Sprintf("events[%d]", i), "cannot encode event: %v", err)
		}
		if len(payload) > klaviyo.MaxPayloadBytes {
			return &apperr.Error{Code: apperr.ETOOLARGE, Field: fmt.Sprintf("events[%d]", i), Message: fmt.Sprintf("event encodes to %d bytes; Klaviyo accepts at most %d per request", len(payload), klaviyo.MaxPayloadBytes)}
		}
		if err := e.ValidateAt(at); err != nil {
			if fe, ok := err.(*apperr.Error); ok {
				return apperr.FieldErrorf(field(fe.Field), "%s", fe.Message)
			}
			return err
		}
		rows[i] = row{uniqueID: e.UniqueID, profileKey: e.Profile.Key(), metric: e.Metric, source: source, payload: payload, createdAt: now}
	}
	return nil
}

// hand passes r to a committer. Once it returns nil, r will be answered:
// a committer that sees Close waits for the hands in progress (handing)
// before its last look at the queue, and no hand starts after Close.
func (o *Outbox) hand(ctx context.Context, r *enqueueReq) error {
	o.handing.RLock()
	defer o.handing.RUnlock()
	select {
	case <-o.closing:
		return apperr.Errorf(apperr.EUNAVAILABLE, "shutting down; events not stored")
	default:
	}
	select {
	case o.reqs <- r: // the queue has room: no need to watch anything else
		return nil
	default:
	}
	select {
	case <-o.closing:
		return apperr.Errorf(apperr.EUNAVAILABLE, "shutting down; events not stored")
	case <-ctx.Done():
		return ctx.Err()
	case o.reqs <- r:
		return nil
	}
}

// gatherYields caps how many times a commit loop yields the processor to
// let more requests join its batch (see commitLoop).
const gatherYields = 8

// commitLoop takes a pending request, gathers whatever else is waiting (up
// to MaxBatchRows), and commits them all in one transaction.
//
// Before committing it yields the processor while that brings more
// requests: under load, handlers that are runnable (a request read, its
// events being decoded) hand theirs over first and share this commit
// instead of paying for the next one: each commit costs a sync of the disk
// and rewrites its last pages whatever its size, so fewer, larger commits
// cost less CPU per event. With nothing else runnable a yield returns at
// once, so a lone request does not wait.
func (o *Outbox) commitLoop() {
	for {
		var first *enqueueReq
		select {
		case first = <-o.reqs:
		case <-o.closing:
			// Commit what was handed over before Close, then stop. No hand
			// is in progress once handing is ours, and none starts after.
			o.handing.Lock()
			o.handing.Unlock()
			for {
				select {
				case r := <-o.reqs:
					o.commitBatch([]*enqueueReq{r})
				default:
					return
				}
			}
		}
		batch := []*enqueueReq{first}
		n := len(first.rows)
		batch, n = o.gather(batch, n)
		for range gatherYields {
			if n >= o.opts.MaxBatchRows {
				break
			}
			runtime.Gosched()
			had := len(batch)
			if batch, n = o.gather(batch, n); len(batch) == had {
				break
			}
		}
		o.commitBatch(batch)
	}
}

// gather appends the requests waiting now to batch, up to MaxBatchRows
// rows in all (n counts them).
func (o *Outbox) gather(batch []*enqueueReq, n int) ([]*enqueueReq, int) {
	for n < o.opts.MaxBatchRows {
		select {
		case r := <-o.reqs:
			batch = append(batch, r)
			n += len(r.rows)
		default:
			return batch, n
		}
	}
	return batch, n
}

func (o *Outbox) commitBatch(batch []*enqueueReq) {
	rows := batch[0].rows
	if len(batch) > 1 {
		n := 0
		for _, r := range batch {
			n += len(r.rows)
		}
		rows = make([]row, 0, n)
		for _, r := range batch {
			rows = append(rows, r.rows...)
		}
	}
	err := o.insert(context.Background(), rows)
	if err != nil && len(batch) > 1 {
		// Do not let one request's failure fail its neighbours: retry
		// each on its own.
		for _, r := range batch {
			err := o.insert(context.Background(), r.rows)
			if err == nil {
				o.commits.Add(1)
				o.nudge()
			}
			r.done <- err
		}
		return
	}
	if err == nil {
		o.commits.Add(1)
		o.nudge()
	}
	for _, r := range batch {
		r.done <- err
	}
}

// nudge wakes the delivery loop after a commit.
func (o *Outbox) nudge() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Source is one producer's handle on the outbox. Its Publish enqueues
// under the producer's name, so it satisfies orders.Publisher (and any
// other "publish these events" seam) without the outbox importing them.
type Source struct {
	Outbox *Outbox
	// Name labels the producer's events in status and dead letters.
	Name string
}

// Publish stores events durably (see Enqueue): a nil error means they
// will reach Klaviyo even if the process dies right after.
func (s Source) Publish(ctx context.Context, events []klaviyo.Event) error {
	return s.Outbox.Enqueue(ctx, events, s.Name)
}

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewUniqueID returns a random 128-bit event id ("sd-" and 26 base32
// characters), the unique_id Klaviyo deduplicates resends on.
func NewUniqueID() string {
	var b [16]byte
	rand.Read(b[:])
	var s [3 + 26]byte // one allocation, the string's
	copy(s[:], "sd-")
	idEncoding.Encode(s[3:], b[:])
	return string(s[:])
}
