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
// instances. Enqueue checks and encodes each event once (klaviyo.Encode)
// and stores its JSON:API parts; delivery frames the stored bytes without
// reading them again. It imports db, klaviyo, metrics and apperr.
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
	// DeadRetention is how long dead-lettered rows are kept for replay
	// before pruning (default 30 days).
	DeadRetention time.Duration
	// PollInterval is how often an idle loop looks for events that another
	// instance (or the CLI's replay) stored (default 500ms).
	PollInterval time.Duration
	// MaxBackoff caps the wait after consecutive failed rounds without a
	// Retry-After (default 5s). While rounds fail, each sends one event (a
	// probe), so a short cap finds Klaviyo back soon without spending the
	// rate limit.
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
	// LeaseDuration is the PostgreSQL leader's lease (default 3s, renewed
	// every third of it): a successor waits out what is left of it before
	// its first request, and the leader's requests end with it (see
	// lease.go).
	LeaseDuration time.Duration
	// CommitTimeout bounds one group commit (default 30s); Close's context
	// cuts it short.
	CommitTimeout time.Duration
	// Logger receives delivery errors and leadership changes (default:
	// discarded).
	Logger *slog.Logger
	// Metrics observes each request, dead letter and 429 wait (default
	// metrics.Nop).
	Metrics metrics.Deliveries
	// Target says where Run delivers, recorded in outbox_deliverers for
	// other processes (see deliverers.go): TargetLocalSink or "klaviyo
	// <base URL>" (default "klaviyo").
	Target string
	// KeySetting names the setting that holds the private key, for the
	// message when Klaviyo refuses it (default "the private key").
	KeySetting string
	// Heartbeat is how often the deliverer renews its row in
	// outbox_deliverers (default 2s).
	Heartbeat time.Duration
	// JobSender delivers the consent and profile jobs (jobs.go); nil
	// leaves them pending.
	JobSender JobSender
	// JobLinger is how long a bulk job smaller than its maximum waits for
	// more of its kind (default 1s).
	JobLinger time.Duration
	// Scrub, when set, runs the deletion of a delivered erasure job, so
	// that the person it named leaves no trace in the database's files
	// (on SQLite: secure_delete, then a truncating checkpoint).
	Scrub func(ctx context.Context, del func(context.Context) error) error
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
	def(&o.DeadRetention, 30*24*time.Hour)
	def(&o.PollInterval, 500*time.Millisecond)
	def(&o.MaxBackoff, 5*time.Second)
	def(&o.RoundInterval, 100*time.Millisecond)
	def(&o.LeaderPoll, time.Second)
	def(&o.LeaseDuration, 3*time.Second)
	def(&o.CommitTimeout, 30*time.Second)
	def(&o.Heartbeat, 2*time.Second)
	if o.Target == "" {
		o.Target = TargetKlaviyo
	}
	if o.KeySetting == "" {
		o.KeySetting = "the private key"
	}
	def(&o.JobLinger, time.Second)
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
		o.Logger = slog.New(slog.DiscardHandler)
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
	jobWake   chan struct{} // nudges the jobs' loop after EnqueueJobs
	// stop is the parent of every commit's context: Close cancels it when
	// its own context ends before the committers are done.
	stop       context.Context
	cancelStop context.CancelFunc
	// stopping ends every Run's loop (Stop); abort ends their requests in
	// flight (Stop's context ended first).
	stopping       context.Context
	cancelStopping context.CancelFunc
	abort          context.Context
	cancelAbort    context.CancelFunc
	runs           sync.WaitGroup
	// instance names this process's lease (see lease.go).
	instance string
	// unmarked are answered results the delivery loop could not record
	// yet (see deliver); only the one running loop touches it.
	unmarked []result
	// pauseHook, when set by a test, replaces the delivery loop's waits.
	pauseHook func(context.Context, time.Duration) bool

	// paused is set while Klaviyo refuses the private key; pauseChanged
	// nudges the deliverer's heartbeat to publish it.
	paused       keyPause
	pauseChanged chan struct{}

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

// row is one event as stored.
type row struct {
	id         int64
	uniqueID   string
	profileKey string
	metric     string
	source     string
	enc        klaviyo.Encoded
	createdAt  int64
	// bad is why a stored row cannot be sent (an older row that no longer
	// decodes or passes the checks); it becomes a dead letter.
	bad error
}

// Open migrates the outbox tables and starts the group committers.
func Open(ctx context.Context, d *db.DB, opts Options) (*Outbox, error) {
	opts.setDefaults(d.Dialect)
	if err := migrate(ctx, d); err != nil {
		return nil, err
	}
	if err := migrateDeliverers(ctx, d); err != nil {
		return nil, err
	}
	if err := migrateJobs(ctx, d); err != nil {
		return nil, err
	}
	if d.Dialect == db.Postgres {
		if err := d.Migrate(ctx, "outbox_lease", leaseMigrations()); err != nil {
			return nil, err
		}
	}
	stop, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopping, cancelStopping := context.WithCancel(context.Background())
	abort, cancelAbort := context.WithCancel(context.Background())
	o := &Outbox{
		stopping:       stopping,
		cancelStopping: cancelStopping,
		abort:          abort,
		cancelAbort:    cancelAbort,
		instance:       NewUniqueID(),
		stop:           stop,
		cancelStop:     cancel,
		db:             d,
		opts:           opts,
		log:            opts.Logger,
		reqs:           make(chan *enqueueReq, 4096),
		closing:        make(chan struct{}),
		committed:      make(chan struct{}),
		wake:           make(chan struct{}, 1),
		pauseChanged:   make(chan struct{}, 1),
		jobWake:        make(chan struct{}, 1),
	}
	o.paused.resume = make(chan struct{}, 1)
	var wg sync.WaitGroup
	for range opts.Committers {
		wg.Go(o.commitLoop)
	}
	go func() { wg.Wait(); close(o.committed) }()
	return o, nil
}

// Ready reports whether Enqueue accepts events and delivery can proceed
// (for /readyz): not after Close, nor while Klaviyo refuses the private
// key (the error says which setting to fix).
func (o *Outbox) Ready(ctx context.Context) error {
	select {
	case <-o.closing:
		return ErrClosed
	default:
		return o.readyErr()
	}
}

// Close stops accepting events, commits those already handed over, and
// returns. When ctx ends first, the commits in progress are cancelled (and
// their Enqueue calls fail) and Close returns ctx's error once the
// committers have stopped. It does not stop Run: cancel Run's context for
// that.
func (o *Outbox) Close(ctx context.Context) error {
	o.closeOnce.Do(func() { close(o.closing) })
	var err error
	select {
	case <-o.committed:
	case <-ctx.Done():
		err = ctx.Err()
		o.cancelStop()
		<-o.committed
	}
	o.cancelStop()
	o.stmtsMu.Lock()
	defer o.stmtsMu.Unlock()
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
// status and dead-letter listings. Enqueue is where events are checked
// (klaviyo.Encode: metric, profile identifier, time range, properties
// limits, 5 MB), once, so that nothing Klaviyo would refuse is
// acknowledged; a batch with an invalid event is refused as EINVALID naming
// the field, such as events[2].metric (ETOOLARGE for an event over 5 MB),
// storing nothing. Storage failures are EUNAVAILABLE (nothing was stored).
func (o *Outbox) Enqueue(ctx context.Context, events []klaviyo.Event, source string) error {
	if len(events) == 0 {
		return nil
	}
	r := &enqueueReq{rows: make([]row, len(events)), done: make(chan error, 1)}
	if err := buildRows(r.rows, events, source, time.Now()); err != nil {
		return err
	}
	return o.enqueue(ctx, r, source)
}

// EnqueueEncoded is Enqueue for events the caller has checked and encoded
// already: encs[i] is klaviyo.Encode's result for events[i], which must
// carry its UniqueID. It stores those bytes as they are, so an event a
// producer had to check before its own writes (an order refused must not
// be stored) is checked and encoded once.
func (o *Outbox) EnqueueEncoded(ctx context.Context, events []klaviyo.Event, encs []klaviyo.Encoded, source string) error {
	if len(events) != len(encs) {
		return fmt.Errorf("outbox: %d events with %d encodings", len(events), len(encs))
	}
	if len(events) == 0 {
		return nil
	}
	r := &enqueueReq{rows: make([]row, len(events)), done: make(chan error, 1)}
	now := time.Now().UnixMilli()
	for i, e := range events {
		if e.UniqueID == "" || encs[i].UniqueID != e.UniqueID {
			return fmt.Errorf("outbox: event %d: encoded without its unique_id", i)
		}
		r.rows[i] = row{uniqueID: e.UniqueID, profileKey: e.Profile.Key(), metric: e.Metric, source: source, enc: encs[i], createdAt: now}
	}
	return o.enqueue(ctx, r, source)
}

// enqueue hands r's rows to a committer and waits for the commit.
func (o *Outbox) enqueue(ctx context.Context, r *enqueueReq, source string) error {
	if err := o.hand(ctx, r); err != nil {
		return err
	}
	// Handed over, r is answered (see hand); the committer wakes the
	// delivery loop.
	select {
	case err := <-r.done:
		if err != nil {
			o.log.Error("outbox: storing events failed", "source", source, "events", len(r.rows), "err", err)
			return apperr.Errorf(apperr.EUNAVAILABLE, "could not store events; nothing was accepted, retry later")
		}
		return nil
	case <-ctx.Done():
		// The request may still commit; it was not acknowledged, and a
		// retry by the caller is deduplicated only if it carries ids.
		return ctx.Err()
	}
}

// buildRows checks and encodes events into rows (as long as events),
// giving each event without a UniqueID a random one (see Enqueue).
func buildRows(rows []row, events []klaviyo.Event, source string, at time.Time) error {
	now := at.UnixMilli()
	for i := range events {
		e := &events[i]
		if e.UniqueID == "" {
			e.UniqueID = NewUniqueID()
		}
		enc, err := klaviyo.Encode(*e, at)
		if err != nil {
			field := fmt.Sprintf("events[%d]", i)
			var big *klaviyo.TooLargeError
			var fe *apperr.Error
			switch {
			case errors.As(err, &big):
				return &apperr.Error{Code: apperr.ETOOLARGE, Field: field, Message: fmt.Sprintf("event encodes to %d bytes; Klaviyo accepts at most %d per request", big.Size, klaviyo.MaxPayloadBytes)}
			case errors.As(err, &fe) && fe.Field != "":
				return &apperr.Error{Code: fe.Code, Field: field + "." + fe.Field, Message: fe.Message}
			}
			return apperr.FieldErrorf(field, "cannot encode event: %v", err)
		}
		rows[i] = row{uniqueID: e.UniqueID, profileKey: e.Profile.Key(), metric: e.Metric, source: source, enc: enc, createdAt: now}
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
	err := o.commit(rows)
	if err != nil && len(batch) > 1 {
		// Do not let one request's failure fail its neighbours: retry
		// each on its own.
		for _, r := range batch {
			err := o.commit(r.rows)
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

// commit inserts rows under a context bounded by CommitTimeout and
// cancelled when Close gives up waiting.
func (o *Outbox) commit(rows []row) error {
	ctx, cancel := context.WithTimeout(o.stop, o.opts.CommitTimeout)
	defer cancel()
	return o.insert(ctx, rows)
}

// nudge wakes the delivery loop after a commit.
func (o *Outbox) nudge() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Producer is one producer's handle on the outbox. Its Publish enqueues
// under the producer's name (the events' source), so it satisfies
// orders.Publisher (and any other "publish these events" seam) without the
// outbox importing them.
type Producer struct {
	Outbox *Outbox
	// Name is the source of the producer's events in status and dead
	// letters.
	Name string
}

// Publish stores events durably (see Enqueue): a nil error means they
// will reach Klaviyo even if the process dies right after.
func (s Producer) Publish(ctx context.Context, events []klaviyo.Event) error {
	return s.Outbox.Enqueue(ctx, events, s.Name)
}

// PublishEncoded stores events the caller encoded (see EnqueueEncoded).
func (s Producer) PublishEncoded(ctx context.Context, events []klaviyo.Event, encs []klaviyo.Encoded) error {
	return s.Outbox.EnqueueEncoded(ctx, events, encs, s.Name)
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
