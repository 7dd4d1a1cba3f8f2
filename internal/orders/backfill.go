package orders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// Backfill hands historical orders to the outbox: Placed Order and
// Ordered Product events with backfill=true (no flow fires), whole orders
// published in chunks (so the outbox's group commit stores each chunk in
// one transaction), and resumable: each order is recorded in the Store once
// its events are stored (acknowledged means stored), and a later run skips
// it. Delivery, rate limits, retries and isolating rejected events are the
// outbox's.
type Backfill struct {
	// Publisher stores events durably (an outbox.Source named
	// "backfill"); unused in a dry run.
	Publisher Publisher
	// Store keeps progress; in a dry run it is only read (may be nil).
	Store *Store
	// ChunkEvents is about how many events one Publish carries (default
	// 1,000; whole orders are never split).
	ChunkEvents int
	// DryRun validates and summarises without storing anything.
	DryRun bool
	// Now is the clock (tests inject it).
	Now func() time.Time
	// Defaults fill in what an order leaves out (country for national
	// phone numbers, currency).
	Defaults Defaults
	// Consent stores the subscriptions of orders' marketing_consent, as
	// historical imports (nil: marketing_consent is ignored).
	Consent ConsentSink
}

// Progress is how far the outbox has got with a run's events.
type Progress struct {
	EventsDone, EventsTotal int
	// Dead is how many of the done events were dead-lettered.
	Dead int
}

// Failure is an order that was not enqueued, and why.
type Failure struct {
	Line    int
	OrderID string
	Reason  string
}

// Summary is the outcome of a backfill run's enqueue step.
type Summary struct {
	DryRun bool
	// Orders read from the file (including unreadable ones).
	Orders int
	// Enqueued orders and their events (in a dry run: would be).
	Enqueued, Events int
	// Skipped orders by reason ("already enqueued", "duplicate order id").
	Skipped map[string]int
	// Failures lists every order not enqueued, with its reason.
	Failures []Failure
	// DroppedPhones lists the phone numbers that could not be normalised
	// to E.164 and were left out (Reason is the field) of orders that
	// still went.
	DroppedPhones []Failure
	Elapsed       time.Duration
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
	verb := "enqueued"
	if s.DryRun {
		verb = "would enqueue"
	}
	fmt.Fprintf(w, "backfill summary%s: %d orders read; %s %d orders (%d events) in %s\n",
		map[bool]string{true: " (dry run)"}[s.DryRun], s.Orders, verb, s.Enqueued, s.Events, s.Elapsed.Round(time.Millisecond))
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
	if len(s.DroppedPhones) > 0 {
		fmt.Fprintf(w, "  phone numbers left out (not normalisable to E.164; set SNIPPETD_DEFAULT_COUNTRY or give the address country): %d\n", len(s.DroppedPhones))
		for _, f := range s.DroppedPhones {
			fmt.Fprintf(w, "    line %d, order %s: %s\n", f.Line, f.OrderID, f.Reason)
		}
	}
}

type ready struct {
	in  Input
	evs []klaviyo.Event
}

// Run validates inputs, skips what an earlier run enqueued, and publishes
// the rest. It returns an error only when the run could not go on (the
// store or the outbox failed, ctx ended); the summary is valid either way,
// and what it counts as enqueued is stored and recorded.
func (b *Backfill) Run(ctx context.Context, inputs []Input) (Summary, error) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	start := now()
	sum := Summary{DryRun: b.DryRun, Orders: len(inputs), Skipped: map[string]int{}}
	defer func() { sum.Elapsed = now().Sub(start); sortFailures(sum.Failures) }()

	// 1. Validate, drop duplicates within the file.
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
		o, dropped, err := Prepare(in.Order, b.Defaults, "")
		if err != nil {
			sum.Failures = append(sum.Failures, Failure{in.Line, in.Order.ID, "invalid: " + describe(err)})
			continue
		}
		in.Order = o
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
		for _, f := range dropped {
			sum.DroppedPhones = append(sum.DroppedPhones, Failure{in.Line, in.Order.ID, f})
		}
		todo = append(todo, ready{in, evs})
	}

	// 2. Resume: skip what an earlier run enqueued.
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
			if hash, ok := done[r.in.Order.ID]; ok {
				// The orders API answers 409 for a changed order under a
				// known id; a backfill must not call the same thing done.
				if hash != "" && hash != Hash(r.in.Order) {
					sum.Failures = append(sum.Failures, Failure{r.in.Line, r.in.Order.ID,
						"conflict: an earlier backfill enqueued this order with different content; Klaviyo keeps the first version (same unique_ids), so the change cannot be sent this way"})
					continue
				}
				sum.Skipped["already enqueued"]++
				continue
			}
			kept = append(kept, r)
		}
		todo = kept
	}
	if b.DryRun {
		sum.Enqueued = len(todo)
		for _, r := range todo {
			sum.Events += len(r.evs)
		}
		return sum, nil
	}
	if b.Publisher == nil || b.Store == nil {
		return sum, errors.New("backfill: a publisher and a store are required unless dry-run")
	}

	// 3. Publish whole orders in chunks; record each chunk once stored.
	size := b.ChunkEvents
	if size <= 0 {
		size = klaviyo.MaxBulkEvents
	}
	for len(todo) > 0 {
		n, events := 0, 0
		for n < len(todo) && (n == 0 || events+len(todo[n].evs) <= size) {
			events += len(todo[n].evs)
			n++
		}
		if err := b.publish(ctx, todo[:n], &sum); err != nil {
			for _, r := range todo {
				sum.Failures = append(sum.Failures, Failure{r.in.Line, r.in.Order.ID, "not enqueued: run stopped (" + err.Error() + "); run again to resume"})
			}
			return sum, err
		}
		todo = todo[n:]
	}
	return sum, nil
}

// publish stores one chunk and records its orders. The outbox refuses a
// whole chunk for one invalid event (EINVALID), so a refused chunk is
// published order by order to fail only the refused order.
func (b *Backfill) publish(ctx context.Context, chunk []ready, sum *Summary) error {
	var evs []klaviyo.Event
	for _, r := range chunk {
		evs = append(evs, r.evs...)
	}
	err := b.Publisher.Publish(ctx, evs)
	var se *apperr.Error
	if errors.As(err, &se) && (se.Code == apperr.EINVALID || se.Code == apperr.ETOOLARGE) {
		if len(chunk) == 1 {
			sum.Failures = append(sum.Failures, Failure{chunk[0].in.Line, chunk[0].in.Order.ID, "refused by the outbox: " + describe(err)})
			return nil
		}
		for i := range chunk {
			if err := b.publish(ctx, chunk[i:i+1], sum); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	// Consent before progress: a run stopped here publishes the chunk
	// again (Klaviyo dedupes the events; each order's consent is stored
	// once).
	if b.Consent != nil {
		for _, r := range chunk {
			if c, ok := orderConsent(r.in.Order, r.in.Consent, true); ok {
				if err := b.Consent.SubscribeOrder(ctx, c); err != nil {
					return fmt.Errorf("store order %s's marketing consent: %w", r.in.Order.ID, err)
				}
			}
		}
	}
	ids, hashes := make([]string, len(chunk)), make([]string, len(chunk))
	for i, r := range chunk {
		ids[i], hashes[i] = r.in.Order.ID, Hash(r.in.Order)
	}
	// Stored events are acknowledged even if ctx ends now: record them.
	if err := b.Store.MarkBackfilled(context.WithoutCancel(ctx), ids, hashes, time.Now()); err != nil {
		return fmt.Errorf("record backfill progress: %w", err)
	}
	sum.Enqueued += len(chunk)
	sum.Events += len(evs)
	return nil
}

func sortFailures(f []Failure) {
	sort.SliceStable(f, func(i, j int) bool { return f[i].Line < f[j].Line })
}

// describe renders an error for the summary: "field: message" for a
// snippetd error, else its text.
func describe(err error) string {
	if e, ok := apperr.As(err); ok {
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
