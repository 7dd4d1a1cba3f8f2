package orders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/snippetd/snippetd"
	"github.com/snippetd/snippetd/klaviyo"
)

// Backfill sends historical orders to Klaviyo with bulk requests: Placed
// Order and Ordered Product events with backfill=true (no flow fires),
// whole orders packed into requests of at most BatchSize events, paced by
// the client's rate limiter, retried on retryable outcomes, and resumable:
// each order is recorded in the Store once Klaviyo accepted all of its
// events, and a later run skips it.
type Backfill struct {
	// Sender is the Klaviyo client (unused in a dry run).
	Sender klaviyo.Sender
	// Store keeps progress; in a dry run it is only read (may be nil).
	Store *Store
	// BatchSize is the most events per request (default and maximum
	// 1,000).
	BatchSize int
	// Concurrency is how many requests may be in flight (default 2; the
	// rate limiter, not this, sets the pace).
	Concurrency int
	// MaxAttempts bounds the tries per request (default 12).
	MaxAttempts int
	// DryRun validates and summarises without sending or recording.
	DryRun bool
	// Now and Sleep are the clock and the retry wait (tests inject them).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// OnProgress is called after each request with the running totals.
	OnProgress func(Progress)
}

// Progress is the running state of a backfill.
type Progress struct {
	OrdersDone, OrdersTotal int
	EventsSent              int
	Requests                int
}

// Failure is an order that was not sent, and why.
type Failure struct {
	Line    int
	OrderID string
	Reason  string
}

// Summary is the outcome of a backfill run.
type Summary struct {
	DryRun bool
	// Orders read from the file (including unreadable ones).
	Orders int
	// Sent orders and their events (in a dry run: would be sent).
	Sent, Events int
	// Skipped orders by reason ("already sent", "duplicate order id").
	Skipped map[string]int
	// Failures lists every order not sent, with its reason.
	Failures []Failure
	// Requests sent (including retries) and how many were retries.
	Requests, Retries int
	Elapsed           time.Duration
}

// SkippedTotal is the number of skipped orders.
func (s Summary) SkippedTotal() int {
	n := 0
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

// Write prints the summary for people: counts, then each failure.
func (s Summary) Write(w io.Writer) {
	verb := "sent"
	if s.DryRun {
		verb = "would send"
	}
	fmt.Fprintf(w, "backfill summary%s: %d orders read; %s %d orders (%d events) in %d requests (%d retries) in %s\n",
		map[bool]string{true: " (dry run)"}[s.DryRun], s.Orders, verb, s.Sent, s.Events, s.Requests, s.Retries, s.Elapsed.Round(time.Millisecond))
	keys := make([]string, 0, len(s.Skipped))
	for k := range s.Skipped {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "  skipped: %d", s.SkippedTotal())
	for _, k := range keys {
		fmt.Fprintf(w, " (%s: %d)", k, s.Skipped[k])
	}
	fmt.Fprintf(w, "\n  failed: %d\n", len(s.Failures))
	for _, f := range s.Failures {
		id := f.OrderID
		if id == "" {
			id = "?"
		}
		fmt.Fprintf(w, "    line %d, order %s: %s\n", f.Line, id, f.Reason)
	}
}

// batchOrder is an order's share of one request.
type batchOrder struct {
	id     string
	line   int
	events int
	hash   string
}

type batch struct {
	events []klaviyo.Event
	orders []batchOrder
}

// ErrAccount is returned when Klaviyo refuses the key (401/403): nothing
// more can be sent, and the run stops.
var ErrAccount = errors.New("klaviyo refused the private key")

// Run backfills inputs and returns the summary. It returns an error only
// when the run could not go on (the key was refused, the store failed, ctx
// ended); the summary is valid either way.
func (b *Backfill) Run(ctx context.Context, inputs []Input) (Summary, error) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	start := now()
	size := b.BatchSize
	if size <= 0 || size > klaviyo.MaxBulkEvents {
		size = klaviyo.MaxBulkEvents
	}
	sum := Summary{DryRun: b.DryRun, Orders: len(inputs), Skipped: map[string]int{}}

	// 1. Validate, drop duplicates within the file.
	type ready struct {
		in  Input
		evs []klaviyo.Event
	}
	var todo []ready
	firstLine := map[string]int{}
	for _, in := range inputs {
		if in.Err != nil {
			sum.Failures = append(sum.Failures, Failure{in.Line, in.Order.ID, "unreadable: " + describe(in.Err)})
			continue
		}
		if _, dup := firstLine[in.Order.ID]; dup {
			sum.Skipped["duplicate order id in the file"]++
			continue
		}
		firstLine[in.Order.ID] = in.Line
		if err := in.Order.Validate(""); err != nil {
			sum.Failures = append(sum.Failures, Failure{in.Line, in.Order.ID, "invalid: " + describe(err)})
			continue
		}
		evs := PlacedEvents(in.Order, true)
		var bad error
		for _, e := range evs {
			if err := e.ValidateAt(now()); err != nil {
				bad = fmt.Errorf("%s event: %s", e.Metric, describe(err))
				break
			}
		}
		if bad != nil {
			sum.Failures = append(sum.Failures, Failure{in.Line, in.Order.ID, "over Klaviyo's limits: " + bad.Error()})
			continue
		}
		todo = append(todo, ready{in, evs})
	}

	// 2. Resume: skip what an earlier run sent.
	if b.Store != nil && len(todo) > 0 {
		ids := make([]string, len(todo))
		for i, r := range todo {
			ids[i] = r.in.Order.ID
		}
		done, err := b.Store.Backfilled(ctx, ids)
		if err != nil {
			return sum, fmt.Errorf("read backfill progress: %w", err)
		}
		kept := todo[:0]
		for _, r := range todo {
			if done[r.in.Order.ID] {
				sum.Skipped["already sent"]++
				continue
			}
			kept = append(kept, r)
		}
		todo = kept
	}

	// 3. Pack whole orders into batches (an order larger than a batch is
	// split, and recorded only when all its parts are accepted).
	var batches []*batch
	cur := &batch{}
	for _, r := range todo {
		evs := r.evs
		for len(evs) > 0 {
			room := size - len(cur.events)
			if room == 0 || (len(evs) <= size && len(evs) > room) {
				batches = append(batches, cur)
				cur = &batch{}
				room = size
			}
			n := min(room, len(evs))
			cur.events = append(cur.events, evs[:n]...)
			cur.orders = append(cur.orders, batchOrder{r.in.Order.ID, r.in.Line, n, Hash(r.in.Order)})
			evs = evs[n:]
		}
	}
	if len(cur.events) > 0 {
		batches = append(batches, cur)
	}
	if b.DryRun {
		sum.Sent = len(todo)
		for _, r := range todo {
			sum.Events += len(r.evs)
		}
		sum.Requests = len(batches)
		sum.Elapsed = now().Sub(start)
		return sum, nil
	}
	if b.Sender == nil || b.Store == nil {
		return sum, errors.New("backfill: a sender and a store are required unless dry-run")
	}

	// 4. Send with a few workers; the client's limiter paces them.
	remaining := map[string]int{}
	for _, r := range todo {
		remaining[r.in.Order.ID] = len(r.evs)
	}
	st := &runState{b: b, sum: &sum, remaining: remaining, failed: map[string]bool{}, total: len(todo), now: now}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan *batch)
	var wg sync.WaitGroup
	workers := b.Concurrency
	if workers <= 0 {
		workers = 2
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bt := range work {
				if err := st.send(ctx, bt); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, bt := range batches {
		select {
		case work <- bt:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	sum.Elapsed = now().Sub(start)
	if err := context.Cause(ctx); err != nil {
		// Orders never attempted are failures of this run; a re-run
		// resumes them.
		for _, r := range todo {
			id := r.in.Order.ID
			if st.remaining[id] > 0 && !st.failed[id] {
				sum.Failures = append(sum.Failures, Failure{r.in.Line, id, "not sent: run stopped (" + err.Error() + "); run again to resume"})
			}
		}
		sortFailures(sum.Failures)
		return sum, err
	}
	sortFailures(sum.Failures)
	return sum, nil
}

func sortFailures(f []Failure) {
	sort.SliceStable(f, func(i, j int) bool { return f[i].Line < f[j].Line })
}

type runState struct {
	b         *Backfill
	now       func() time.Time
	mu        sync.Mutex
	sum       *Summary
	remaining map[string]int
	failed    map[string]bool
	total     int
	done      int
}

// send delivers one batch; a permanently rejected batch of several orders
// is split in halves to isolate the order Klaviyo refuses.
func (s *runState) send(ctx context.Context, bt *batch) error {
	r := klaviyo.Retrier{Sender: s.b.Sender, MaxAttempts: s.b.MaxAttempts, Sleep: s.b.Sleep, OnRetry: func(int, klaviyo.Outcome) {
		s.mu.Lock()
		s.sum.Requests++
		s.sum.Retries++
		s.mu.Unlock()
	}}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 12
	}
	out := r.BulkCreateEvents(ctx, bt.events)
	s.mu.Lock()
	s.sum.Requests++
	s.mu.Unlock()
	switch {
	case out.Kind == klaviyo.Delivered:
		return s.delivered(ctx, bt)
	case out.Kind == klaviyo.Permanent && (out.Status == 401 || out.Status == 403):
		return fmt.Errorf("%w (status %d): check SNIPPETD_PRIVATE_KEY and its events:write scope", ErrAccount, out.Status)
	case out.Kind == klaviyo.Permanent && len(bt.orders) > 1:
		left, right := split(bt)
		if err := s.send(ctx, left); err != nil {
			return err
		}
		return s.send(ctx, right)
	}
	if ctx.Err() != nil {
		return nil // reported as "not sent" by Run
	}
	reason := out.Detail
	if len(reason) > 300 {
		reason = reason[:300] + "…"
	}
	if out.Kind == klaviyo.Retryable {
		reason = fmt.Sprintf("gave up after %d attempts (status %d): %s", r.MaxAttempts, out.Status, reason)
	} else {
		reason = fmt.Sprintf("rejected by Klaviyo (status %d): %s", out.Status, reason)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range bt.orders {
		if !s.failed[o.id] {
			s.failed[o.id] = true
			s.sum.Failures = append(s.sum.Failures, Failure{o.line, o.id, reason})
		}
	}
	return nil
}

func split(bt *batch) (*batch, *batch) {
	half := len(bt.orders) / 2
	n := 0
	for _, o := range bt.orders[:half] {
		n += o.events
	}
	return &batch{events: bt.events[:n], orders: bt.orders[:half]}, &batch{events: bt.events[n:], orders: bt.orders[half:]}
}

func (s *runState) delivered(ctx context.Context, bt *batch) error {
	s.mu.Lock()
	var ids, hashes []string
	for _, o := range bt.orders {
		s.remaining[o.id] -= o.events
		s.sum.Events += o.events
		if s.remaining[o.id] == 0 && !s.failed[o.id] {
			ids = append(ids, o.id)
			hashes = append(hashes, o.hash)
		}
	}
	s.mu.Unlock()
	if len(ids) > 0 {
		if err := s.b.Store.MarkBackfilled(context.WithoutCancel(ctx), ids, hashes, s.now()); err != nil {
			return fmt.Errorf("record backfill progress: %w", err)
		}
	}
	s.mu.Lock()
	s.sum.Sent += len(ids)
	s.done += len(ids)
	p := Progress{OrdersDone: s.done, OrdersTotal: s.total, EventsSent: s.sum.Events, Requests: s.sum.Requests}
	s.mu.Unlock()
	if s.b.OnProgress != nil {
		s.b.OnProgress(p)
	}
	return nil
}

// describe renders an error for the summary: "field: message" for a
// snippetd error, else its text.
func describe(err error) string {
	var e *snippetd.Error
	if errors.As(err, &e) {
		msg := e.Message
		if e.Field != "" {
			msg = e.Field + ": " + msg
		}
		if outer := err.Error(); !strings.HasPrefix(outer, "snippetd:") {
			if i := strings.Index(outer, ": snippetd:"); i > 0 {
				msg = outer[:i] + ": " + msg
			}
		}
		return msg
	}
	return err.Error()
}
