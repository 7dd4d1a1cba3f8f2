package outbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// Run delivers stored events through s until ctx ends or Stop is called.
// It first waits to become the leader, the one delivering instance per
// database: on PostgreSQL a session advisory lock fenced by a lease (see
// lease.go), on SQLite an flock on a file beside the database (so a second
// process started on the same data directory by mistake waits instead of
// sending everything twice). When ctx ends, requests in flight are
// cancelled; Stop lets them finish. It returns ctx's error (nil after
// Stop).
func (o *Outbox) Run(ctx context.Context, s klaviyo.Sender) error {
	o.running.Store(true)
	defer o.running.Store(false)
	o.runs.Add(1)
	defer o.runs.Done()
	// loop ends with ctx or Stop: no new round or request after it.
	loop, cancelLoop := context.WithCancel(ctx)
	defer cancelLoop()
	defer context.AfterFunc(o.stopping, cancelLoop)()
	// sends carries the requests: it ends with ctx, or when Stop's own
	// context ends before they are answered.
	sends, cancelSends := context.WithCancel(ctx)
	defer cancelSends()
	defer context.AfterFunc(o.abort, cancelSends)()
	if o.db.Dialect != db.Postgres {
		for {
			release, ok, err := tryFileLock(o.db.Path + ".outbox-leader")
			if err != nil {
				o.fail("leader lock: %v", err)
			}
			if ok {
				defer release()
				break
			}
			if !sleep(loop, o.opts.LeaderPoll) {
				return ctx.Err()
			}
		}
		o.leader.Store(true)
		defer o.leader.Store(false)
		defer o.announce(loop)()
		o.deliver(loop, sends, s)
		return ctx.Err()
	}
	for loop.Err() == nil {
		err := o.lead(loop, sends, s)
		if err != nil && loop.Err() == nil {
			o.fail("leader election: %v", err)
			sleep(loop, o.opts.LeaderPoll)
		}
	}
	return ctx.Err()
}

// Stop ends Run gracefully, as on SIGTERM: no request starts after it is
// called, and the requests in flight are answered and their results
// recorded, so that a restart does not send them again. When ctx ends
// first, they are cancelled. Stop returns once Run has returned.
func (o *Outbox) Stop(ctx context.Context) error {
	o.cancelStopping()
	done := make(chan struct{})
	go func() { o.runs.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		o.cancelAbort()
		<-done
		return ctx.Err()
	}
}

// advisoryKey is the pg_advisory_lock key of the delivery role
// (the first 8 bytes of "snippetd.outbox").
const advisoryKey int64 = 0x736e69707065_7464

// lead holds a dedicated connection, waits until pg_try_advisory_lock
// succeeds on it, takes the delivery lease, and delivers while checking
// every LeaderPoll that the connection (and so the session lock) is alive.
// When the leader process dies, PostgreSQL ends its session and frees the
// lock, and a standby takes over within one LeaderPoll plus what is left
// of the old lease.
func (o *Outbox) lead(ctx, sends context.Context, s klaviyo.Sender) error {
	conn, err := o.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, advisoryKey).Scan(&ok); err != nil {
			return err
		}
		if ok {
			break
		}
		if !sleep(ctx, o.opts.LeaderPoll) {
			return ctx.Err()
		}
	}
	defer func() {
		uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), o.opts.LeaderPoll*3)
		conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, advisoryKey)
		ucancel()
	}()
	l, wait, err := acquireLease(ctx, o.db, o.instance, o.opts.LeaseDuration)
	if err != nil {
		return err
	}
	defer func() {
		// Nothing of this epoch is in flight any more.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.opts.LeaderPoll*3)
		l.release(rctx)
		cancel()
	}()
	if wait > 0 {
		o.log.Info("outbox: waiting out the previous leader's lease", "wait", wait)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
	o.leader.Store(true)
	o.log.Info("outbox: this instance is now the delivery leader", "epoch", l.epoch)
	defer o.leader.Store(false)
	lctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	defer o.announce(lctx)()
	sctx, cancelSends := context.WithCancel(sends)
	defer cancelSends()
	go l.hold(lctx, lost, cancelSends)
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.deliver(lctx, sctx, s)
	}()
	t := time.NewTicker(o.opts.LeaderPoll)
	defer t.Stop()
	for {
		select {
		case <-done:
			if err := context.Cause(lctx); err != nil && ctx.Err() == nil {
				o.log.Warn("outbox: stepping down", "err", err)
				return err
			}
			return nil
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, o.opts.LeaderPoll*3)
			err := conn.PingContext(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				// Requests in flight finish within the lease; no new one
				// starts.
				o.log.Warn("outbox: lost the leader lock connection; stepping down", "err", err)
				lost(err)
				<-done
				return err
			}
		}
	}
}

// deliver is the delivery loop of the leader. No round or request starts
// after ctx ends; requests run under sends.
func (o *Outbox) deliver(ctx, sends context.Context, s klaviyo.Sender) {
	if o.opts.JobSender != nil {
		// Consent and profile jobs have their own loop (jobs.go).
		jobsDone := make(chan struct{})
		go func() { defer close(jobsDone); o.deliverJobs(ctx, sends, o.opts.JobSender) }()
		defer func() { <-jobsDone }()
	}
	// failures counts consecutive failed rounds (however many requests
	// each sent); while it is above zero, each round is a probe of one
	// event.
	var failures int
	var lastPrune, lastRound time.Time
	var lastRows int
	// o.unmarked holds results that could not be recorded: they are
	// recorded before anything else is read or sent, so that an event
	// Klaviyo accepted is not sent again because marking it failed. It
	// outlives this call: a leader that stepped down when its session
	// died records them when it leads again.
	unmarked := o.unmarked
	defer func() { o.unmarked = unmarked }()
	window := max(o.opts.BulkRequestsPerRound*o.opts.MaxBulkEvents, o.opts.BulkThreshold+1)
	for ctx.Err() == nil {
		if len(unmarked) > 0 {
			if err := o.recordResults(ctx, unmarked); err != nil {
				o.fail("record results: %v", err)
				failures++
				o.pause(ctx, o.backoff(failures))
				continue
			}
			o.count(unmarked)
			unmarked, failures = nil, 0
		}
		if time.Since(lastPrune) > time.Hour {
			if n, err := o.prune(ctx); err != nil {
				o.fail("prune: %v", err)
			} else {
				lastPrune = time.Now()
				if n > 0 {
					o.log.Info("outbox: pruned delivered events", "rows", n, "retention", o.opts.Retention)
				}
			}
		}
		// Caught up with the queue last round: let the events arriving
		// now gather for the rest of RoundInterval (see Options).
		if wait := o.opts.RoundInterval - time.Since(lastRound); lastRows > 0 && lastRows < window && wait > 0 {
			if !sleep(ctx, wait) {
				return
			}
		}
		lastRound = time.Now()
		limit := window
		if failures > 0 {
			limit = 1 // a probe
		}
		rows, err := o.loadPending(ctx, limit)
		lastRows = len(rows)
		if err != nil {
			if ctx.Err() == nil {
				o.fail("load pending: %v", err)
				failures++
				o.pause(ctx, o.backoff(failures))
			}
			continue
		}
		if len(rows) == 0 {
			failures = 0
			select {
			case <-ctx.Done():
			case <-o.wake:
			case <-time.After(o.opts.PollInterval):
			}
			continue
		}
		o.rounds.Add(1)
		var retry *klaviyo.Outcome
		var failed []result
		if len(rows) > o.opts.BulkThreshold && failures == 0 {
			retry, failed, err = o.bulkRound(ctx, sends, s, rows)
		} else {
			var results []result
			results, retry = o.singleRound(sends, s, rows)
			if err = o.recordResults(ctx, results); err != nil {
				failed = results
			} else {
				o.count(results)
			}
		}
		if err != nil {
			// The requests were answered: keep their results and record
			// them again, rather than send the events again.
			unmarked = failed
			o.fail("record results: %v", err)
			failures++
			o.pause(ctx, o.backoff(failures))
			continue
		}
		if retry == nil {
			failures = 0
			o.unpause()
			continue
		}
		failures++
		o.retries.Add(1)
		if isAccountProblem(*retry) {
			// No event can fix a refused key: say which setting is wrong
			// and probe with one event every MaxBackoff, or at once when
			// the key is replaced (Resume).
			o.pauseForKey(*retry)
			o.waitPaused(ctx, o.opts.MaxBackoff)
			continue
		}
		wait := o.backoff(failures)
		if retry.Status == 429 && retry.RetryAfter > 0 {
			// Klaviyo said when: honour it exactly, plus a little jitter
			// so instances and retries do not align.
			wait = retry.RetryAfter + rand.N(retry.RetryAfter/10+time.Millisecond)
		} else if retry.RetryAfter > wait {
			wait = retry.RetryAfter
		}
		if retry.Status == 429 {
			o.opts.Metrics.ObserveRateLimitWait(wait)
		}
		o.fail("klaviyo status %d (%s); retrying in %s", retry.Status, truncate(retry.Detail, 200), wait.Round(time.Millisecond))
		o.pause(ctx, wait)
	}
}

// pause waits d or until ctx ends (tests replace it to read the waits).
func (o *Outbox) pause(ctx context.Context, d time.Duration) bool {
	if o.pauseHook != nil {
		return o.pauseHook(ctx, d)
	}
	return sleep(ctx, d)
}

// recordResults records a round's results even when ctx has just ended
// (the requests were sent), within CommitTimeout.
func (o *Outbox) recordResults(ctx context.Context, results []result) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.opts.CommitTimeout)
	defer cancel()
	return o.record(rctx, results)
}

// backoff is exponential from 500ms, capped at MaxBackoff, with jitter in
// [d/2, d].
func (o *Outbox) backoff(failures int) time.Duration {
	d := 500 * time.Millisecond
	for i := 1; i < failures && d < o.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// isAccountProblem reports outcomes that no event can fix (a wrong or
// revoked key): they pause delivery instead of dead-lettering the queue.
func isAccountProblem(out klaviyo.Outcome) bool {
	return out.Kind == klaviyo.Permanent && (out.Status == 401 || out.Status == 403)
}

// singleRound sends the oldest pending event of up to SingleConcurrency
// distinct profiles, concurrently. A profile's later events wait for its
// earlier ones, which keeps per-profile order.
func (o *Outbox) singleRound(sends context.Context, s klaviyo.Sender, rows []row) ([]result, *klaviyo.Outcome) {
	seen := map[string]bool{}
	var heads []row
	for _, r := range rows {
		if !seen[r.profileKey] {
			seen[r.profileKey] = true
			heads = append(heads, r)
			if len(heads) == o.opts.SingleConcurrency {
				break
			}
		}
	}
	outs := make([]klaviyo.Outcome, len(heads))
	sent := make([]bool, len(heads))
	var wg sync.WaitGroup
	for i, r := range heads {
		if r.bad != nil {
			outs[i] = klaviyo.Outcome{Kind: klaviyo.Permanent, Detail: r.bad.Error()}
			continue
		}
		o.requests.Add(1)
		sent[i] = true
		wg.Go(func() { outs[i] = s.CreateEvent(sends, r.enc) })
	}
	wg.Wait()
	var results []result
	var retry *klaviyo.Outcome
	for i, r := range heads {
		out := outs[i]
		if sent[i] { // undecodable rows never reached Klaviyo
			o.opts.Metrics.ObserveDelivery("single", out.Kind.String(), out.Status, 1)
		}
		res := singleResult(r.id, out)
		results = append(results, res)
		if res.state == StatePending && (retry == nil || out.RetryAfter > retry.RetryAfter) {
			retry = &out
		}
	}
	return results, retry
}

// dedupKey is what Klaviyo deduplicates on; a bulk request must not repeat
// it.
type dedupKey struct{ profile, metric, uniqueID string }

// planBulk cuts the window (oldest first) into at most maxReqs requests of
// at most MaxBulkEvents events and MaxBulkBytes each, in id order, opening a
// new request rather than repeat a dedupKey within one. deps[i] lists the
// earlier requests holding earlier events of request i's profiles: request
// i is sent only after they succeed, which keeps every profile's order
// while requests for disjoint profiles go out concurrently.
func (o *Outbox) planBulk(rows []row, maxReqs int) (reqs [][]row, deps [][]int) {
	const overhead = 300 // JSON:API wrapping per event, an over-estimate
	last := map[string]int{}
	var size int
	var keys map[dedupKey]bool
	var depSet map[int]bool
	closeReq := func() {
		if depSet == nil {
			return
		}
		var d []int
		for j := range depSet {
			d = append(d, j)
		}
		deps = append(deps, d)
	}
	for _, r := range rows {
		sz := len(r.enc.Attributes) + len(r.enc.Profile) + overhead
		k := dedupKey{r.profileKey, r.metric, r.uniqueID}
		cur := len(reqs) - 1
		if cur < 0 || len(reqs[cur]) >= o.opts.MaxBulkEvents || size+sz > o.opts.MaxBulkBytes || keys[k] {
			if len(reqs) == maxReqs {
				break
			}
			closeReq()
			reqs = append(reqs, nil)
			cur, size, keys, depSet = len(reqs)-1, 0, map[dedupKey]bool{}, map[int]bool{}
		}
		if j, ok := last[r.profileKey]; ok && j != cur {
			depSet[j] = true
		}
		last[r.profileKey] = cur
		reqs[cur] = append(reqs[cur], r)
		size += sz
		keys[k] = true
	}
	closeReq()
	return reqs, deps
}

// bulkRound sends the planned bulk requests, up to BulkConcurrency at once,
// each after the requests it depends on, and records each request's results
// as soon as it is answered (so a crash repeats as little as possible). A
// retryable answer or a storage error stops new requests; the events not
// sent stay pending. It returns the results it could not record with the
// first storage error. No request starts after ctx ends; they run under
// sends.
func (o *Outbox) bulkRound(ctx, sends context.Context, s klaviyo.Sender, rows []row) (*klaviyo.Outcome, []result, error) {
	reqs, deps := o.planBulk(rows, o.opts.BulkRequestsPerRound)
	done := make([]chan struct{}, len(reqs))
	for i := range done {
		done[i] = make(chan struct{})
	}
	ok := make([]bool, len(reqs))
	sem := make(chan struct{}, o.opts.BulkConcurrency)
	var stop atomic.Bool
	var mu sync.Mutex
	var retry *klaviyo.Outcome
	var firstErr error
	var unrecorded []result
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			defer close(done[i])
			for _, j := range deps[i] {
				<-done[j]
				if !ok[j] {
					return
				}
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			if stop.Load() || ctx.Err() != nil {
				return
			}
			results, r := o.sendBulk(sends, s, req)
			err := o.recordResults(ctx, results)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				stop.Store(true)
				unrecorded = append(unrecorded, results...)
				if firstErr == nil {
					firstErr = err
				}
			case r != nil:
				o.count(results)
				stop.Store(true)
				if retry == nil || r.RetryAfter > retry.RetryAfter {
					retry = r
				}
			default:
				o.count(results)
				ok[i] = true
			}
		})
	}
	wg.Wait()
	return retry, unrecorded, firstErr
}

// count adds a round's results to the process totals.
func (o *Outbox) count(results []result) {
	var dead int
	for _, r := range results {
		switch r.state {
		case StateDelivered:
			o.delivered.Add(1)
		case StateDead:
			o.dead.Add(1)
			dead++
		}
	}
	if dead > 0 {
		o.opts.Metrics.ObserveDeadLetters(dead)
	}
}

// maxBlameRounds bounds how often one batch is resent without the events
// Klaviyo's answer named; a batch still refused after that is isolated
// through the single-event endpoint.
const maxBlameRounds = 3

// sendBulk sends rows as one bulk request. When Klaviyo refuses it for
// good, its answer names each refused value by source.pointer: the events
// it names (every event of an entry whose profile it names) are sent
// through the single-event endpoint, which has its own, larger budget, and
// become dead letters if refused there too, while the rest go out again
// in one bulk request. An answer that names no event isolates the bad ones
// the same way, every event of the batch through the single endpoint, so
// that a few bad events cost a request each, not the bulk budget. A
// retryable outcome stops the request (the events not yet answered stay
// pending).
func (o *Outbox) sendBulk(ctx context.Context, s klaviyo.Sender, rows []row) ([]result, *klaviyo.Outcome) {
	var results []result
	var good []row
	for _, r := range rows {
		if r.bad != nil {
			results = append(results, result{id: r.id, state: StateDead, detail: r.bad.Error()})
			continue
		}
		good = append(good, r)
	}
	for round := 0; len(good) > 0; round++ {
		events := make([]klaviyo.Encoded, len(good))
		for i, r := range good {
			events[i] = r.enc
		}
		o.requests.Add(1)
		out := s.BulkCreateEvents(ctx, events)
		o.opts.Metrics.ObserveDelivery("bulk", out.Kind.String(), out.Status, len(events))
		switch {
		case out.Kind == klaviyo.Delivered:
			for _, r := range good {
				results = append(results, result{id: r.id, state: StateDelivered})
			}
			return results, nil
		case out.Kind == klaviyo.Permanent && !isAccountProblem(out):
			suspects, rest := blame(out, good, events)
			if suspects == nil || round == maxBlameRounds {
				singles, retry := o.sendEach(ctx, s, good)
				return append(results, singles...), retry
			}
			singles, retry := o.sendEach(ctx, s, suspects)
			results = append(results, singles...)
			if retry != nil {
				return results, retry
			}
			good = rest
			continue
		}
		for _, r := range good {
			results = append(results, result{id: r.id, state: StatePending, status: out.Status, detail: truncate(out.Detail, 2000)})
		}
		return results, &out
	}
	return results, nil
}

// blame splits a refused batch into the events Klaviyo's errors name and
// the rest, in the grouping the bulk body used (klaviyo.BulkEntries). It
// returns nil suspects when any error names no event or entry of the
// batch: then the answer cannot be trusted to name every bad event.
func blame(out klaviyo.Outcome, rows []row, events []klaviyo.Encoded) (suspects, rest []row) {
	if len(out.Errors) == 0 {
		return nil, nil
	}
	entries := klaviyo.BulkEntries(events)
	named := make([]bool, len(rows))
	for _, e := range out.Errors {
		ref, ok := klaviyo.ParseBulkPointer(e.Pointer)
		if !ok || ref.Entry >= len(entries) || ref.Event >= len(entries[ref.Entry]) {
			return nil, nil
		}
		if ref.Event < 0 { // the entry's profile: all its events
			for _, k := range entries[ref.Entry] {
				named[k] = true
			}
			continue
		}
		named[entries[ref.Entry][ref.Event]] = true
	}
	for i, r := range rows {
		if named[i] {
			suspects = append(suspects, r)
		} else {
			rest = append(rest, r)
		}
	}
	return suspects, rest
}

// sendEach sends rows one by one through the single-event endpoint, up to
// SingleConcurrency at once, and returns their results: delivered, dead
// letters with the single endpoint's answer, or pending with the longest
// retryable outcome (after which it starts no more).
func (o *Outbox) sendEach(ctx context.Context, s klaviyo.Sender, rows []row) ([]result, *klaviyo.Outcome) {
	outs := make([]klaviyo.Outcome, len(rows))
	sent := make([]bool, len(rows))
	var stop atomic.Bool
	sem := make(chan struct{}, o.opts.SingleConcurrency)
	var wg sync.WaitGroup
	for i, r := range rows {
		sem <- struct{}{}
		if stop.Load() || ctx.Err() != nil {
			<-sem
			break
		}
		sent[i] = true
		o.requests.Add(1)
		wg.Go(func() {
			defer func() { <-sem }()
			outs[i] = s.CreateEvent(ctx, r.enc)
			if outs[i].Kind != klaviyo.Delivered && (outs[i].Kind == klaviyo.Retryable || isAccountProblem(outs[i])) {
				stop.Store(true)
			}
		})
	}
	wg.Wait()
	var results []result
	var retry *klaviyo.Outcome
	for i, r := range rows {
		if !sent[i] {
			continue
		}
		out := outs[i]
		o.opts.Metrics.ObserveDelivery("single", out.Kind.String(), out.Status, 1)
		res := singleResult(r.id, out)
		results = append(results, res)
		if res.state == StatePending && (retry == nil || out.RetryAfter > retry.RetryAfter) {
			retry = &out
		}
	}
	return results, retry
}

// singleResult is what one event's answer from the single-event endpoint
// records: delivered, dead (a permanent refusal of the event itself), or
// pending for a retry (anything else, an account problem included).
func singleResult(id int64, out klaviyo.Outcome) result {
	switch {
	case out.Kind == klaviyo.Delivered:
		return result{id: id, state: StateDelivered}
	case out.Kind == klaviyo.Permanent && !isAccountProblem(out):
		return result{id: id, state: StateDead, status: out.Status, detail: out.Detail}
	}
	return result{id: id, state: StatePending, status: out.Status, detail: truncate(out.Detail, 2000)}
}

// fail records the loop's latest problem for Status and logs it.
func (o *Outbox) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	o.lastErr.Store(&loopError{msg: msg, at: time.Now()})
	o.log.Warn("outbox: " + msg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
