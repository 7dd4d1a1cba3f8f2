package outbox

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// fakeSender records what the loop sends; fn decides each request's
// outcome (nil: delivered).
type fakeSender struct {
	mu       sync.Mutex
	got      []klaviyo.Event // delivered, in order
	requests []request
	fn       func(events []klaviyo.Event, bulk bool) klaviyo.Outcome
}

type request struct {
	bulk   bool
	events []klaviyo.Event
	kind   klaviyo.Kind
}

func (f *fakeSender) send(events []klaviyo.Event, bulk bool) klaviyo.Outcome {
	f.mu.Lock()
	fn := f.fn
	f.mu.Unlock()
	out := klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
	if fn != nil {
		out = fn(events, bulk)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, request{bulk: bulk, events: events, kind: out.Kind})
	if out.Kind == klaviyo.Delivered {
		f.got = append(f.got, events...)
	}
	return out
}

func (f *fakeSender) CreateEvent(ctx context.Context, e klaviyo.Encoded) klaviyo.Outcome {
	return f.send(decodeAll([]klaviyo.Encoded{e}), false)
}

func (f *fakeSender) BulkCreateEvents(ctx context.Context, events []klaviyo.Encoded) klaviyo.Outcome {
	return f.send(decodeAll(events), true)
}

// decodeAll reads the events a sender was given back into klaviyo.Events,
// for the tests' checks.
func decodeAll(encs []klaviyo.Encoded) []klaviyo.Event {
	events := make([]klaviyo.Event, len(encs))
	for i, enc := range encs {
		e, err := enc.Event()
		if err != nil {
			panic(fmt.Sprintf("the outbox sent an event that does not decode: %v", err))
		}
		events[i] = e
	}
	return events
}

func (f *fakeSender) setFn(fn func([]klaviyo.Event, bool) klaviyo.Outcome) {
	f.mu.Lock()
	f.fn = fn
	f.mu.Unlock()
}

func (f *fakeSender) delivered() []klaviyo.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]klaviyo.Event(nil), f.got...)
}

func (f *fakeSender) allRequests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

func testOptions() Options {
	return Options{PollInterval: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, LeaderPoll: 100 * time.Millisecond}
}

func openOutbox(t *testing.T, d *db.DB, opts Options) *Outbox {
	t.Helper()
	o, err := Open(context.Background(), d, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

// run starts o's delivery loop until the test ends.
func run(t *testing.T, o *Outbox, s klaviyo.Sender) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx, s); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

// ev is event n of profile p; its properties carry both, so tests can
// check order.
func ev(p string, n int) klaviyo.Event {
	props, _ := json.Marshal(map[string]any{"profile": p, "n": n})
	return klaviyo.Event{Metric: "Placed Order", Profile: klaviyo.Profile{Email: p + "@example.com"}, Properties: props}
}

func seq(e klaviyo.Event) (string, int) {
	var v struct {
		Profile string
		N       int
	}
	json.Unmarshal(e.Properties, &v)
	return v.Profile, v.N
}

// waitTimeout bounds each wait for delivery: long enough for PostgreSQL
// on a loaded two-core machine, short enough that a broken delivery loop
// fails in seconds (raise it with -args -outbox.wait=1m when debugging).
var waitTimeout = flag.Duration("outbox.wait", 15*time.Second, "how long outbox tests wait for delivery")

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(*waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func status(t *testing.T, o *Outbox) Status {
	t.Helper()
	s, err := o.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkExactlyOnceInOrder checks that got holds each of want's unique ids
// once and that each profile's events arrived in increasing n.
func checkExactlyOnceInOrder(t *testing.T, want []klaviyo.Event, got []klaviyo.Event) {
	t.Helper()
	count := map[string]int{}
	for _, e := range got {
		count[e.UniqueID]++
	}
	for _, e := range want {
		if count[e.UniqueID] != 1 {
			t.Errorf("event %s delivered %d times, want once", e.UniqueID, count[e.UniqueID])
		}
	}
	if len(got) != len(want) {
		t.Errorf("delivered %d events, want %d", len(got), len(want))
	}
	last := map[string]int{}
	for _, e := range got {
		p, n := seq(e)
		if prev, ok := last[p]; ok && n < prev {
			t.Errorf("profile %s: event %d arrived after %d", p, n, prev)
		}
		last[p] = n
	}
}

func TestEnqueueStoresWithUniqueIDs(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			events := []klaviyo.Event{ev("a", 1), ev("b", 1), ev("a", 2)}
			events[1].UniqueID = "order-17"
			if err := o.Enqueue(context.Background(), events, "test"); err != nil {
				t.Fatal(err)
			}
			if events[1].UniqueID != "order-17" {
				t.Errorf("preset unique_id replaced by %q", events[1].UniqueID)
			}
			if events[0].UniqueID == "" || events[0].UniqueID == events[2].UniqueID {
				t.Errorf("generated ids %q, %q: want distinct, non-empty", events[0].UniqueID, events[2].UniqueID)
			}
			rows, err := o.loadPending(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			// Compare as JSON: what the loop will send is the decoded row.
			var want, got []string
			for i, r := range rows {
				e, err := r.enc.Event()
				if err != nil {
					t.Fatal(err)
				}
				g, _ := json.Marshal(e)
				w, _ := json.Marshal(events[i])
				got, want = append(got, string(g)), append(want, string(w))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stored events (-want +got):\n%s", diff)
			}
			s := status(t, o)
			if s.Pending != 3 || s.Delivered != 0 || s.Dead != 0 {
				t.Errorf("status = %+v, want 3 pending", s)
			}
		})
	}
}

func TestEnqueueRejectsInvalidEvents(t *testing.T) {
	d := dbtest.SQLite(t)
	o := openOutbox(t, d, testOptions())
	noID := ev("a", 1)
	noID.Profile = klaviyo.Profile{FirstName: "Ann"}
	noMetric := ev("a", 2)
	noMetric.Metric = ""
	future := ev("a", 3)
	future.Time = time.Now().AddDate(2, 0, 0)
	// These only the full validation catches (they were acknowledged and
	// dead-lettered before Enqueue ran klaviyo.Event.ValidateAt).
	notObject := ev("a", 4)
	notObject.Properties = json.RawMessage(`[1,2]`)
	tooDeep := ev("a", 5)
	tooDeep.Properties = json.RawMessage(`{"a":` + strings.Repeat(`{"a":`, 10) + `1` + strings.Repeat(`}`, 11))
	badCurrency := ev("a", 6)
	badCurrency.ValueCurrency = "usd"
	tests := []struct {
		name  string
		event klaviyo.Event
		field string
	}{
		{"no identifier", noID, "events[1].profile"},
		{"no metric", noMetric, "events[1].metric"},
		{"time too far ahead", future, "events[1].time"},
		{"properties not an object", notObject, "events[1].properties"},
		{"properties nested too deep", tooDeep, "events[1].properties.a.a.a.a.a.a.a.a.a.a"},
		{"currency not ISO 4217", badCurrency, "events[1].value_currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := o.Enqueue(context.Background(), []klaviyo.Event{ev("ok", 1), tt.event}, "test")
			if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != tt.field {
				t.Errorf("err = %v, want EINVALID naming %s", err, tt.field)
			}
		})
	}
	if s := status(t, o); s.Pending != 0 {
		t.Errorf("%d events stored from rejected batches, want 0", s.Pending)
	}
}

func TestGroupCommitSharesTransactions(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			const producers, each = 64, 20
			var wg sync.WaitGroup
			errs := make(chan error, producers*each)
			for p := range producers {
				wg.Go(func() {
					for i := range each {
						errs <- o.Enqueue(context.Background(), []klaviyo.Event{ev(fmt.Sprint(p), i)}, "test")
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if s := status(t, o); s.Pending != producers*each {
				t.Errorf("pending = %d, want %d", s.Pending, producers*each)
			}
			if c := o.commits.Load(); c >= producers*each {
				t.Errorf("%d transactions for %d enqueues: concurrent enqueues did not share commits", c, producers*each)
			} else {
				t.Logf("%d enqueues in %d transactions", producers*each, c)
			}
		})
	}
}

func TestDeliverSinglesKeepsProfileOrderThroughRetries(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			var mu sync.Mutex
			rng := rand.New(rand.NewPCG(1, 2))
			s := &fakeSender{fn: func([]klaviyo.Event, bool) klaviyo.Outcome {
				mu.Lock()
				defer mu.Unlock()
				if rng.IntN(10) < 3 {
					return klaviyo.Outcome{Kind: klaviyo.Retryable, Status: 503, RetryAfter: time.Millisecond, Detail: "unavailable"}
				}
				return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
			}}
			run(t, o, s)
			var want []klaviyo.Event
			for n := range 20 {
				for _, p := range []string{"a", "b", "c"} {
					e := []klaviyo.Event{ev(p, n)}
					if err := o.Enqueue(context.Background(), e, "test"); err != nil {
						t.Fatal(err)
					}
					want = append(want, e...)
				}
			}
			waitFor(t, "delivery", func() bool { return len(s.delivered()) >= len(want) && status(t, o).Pending == 0 })
			checkExactlyOnceInOrder(t, want, s.delivered())
			for _, r := range s.allRequests() {
				if r.bulk {
					t.Errorf("bulk request for a backlog of at most %d events", len(want))
					break
				}
			}
			st := status(t, o)
			if st.Delivered != int64(len(want)) || st.RetriesTotal == 0 {
				t.Errorf("status = %+v, want %d delivered after some retries", st, len(want))
			}
		})
	}
}

func TestDeliverBulkLimitsAndDedupKeys(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			var want []klaviyo.Event
			for n := range 60 {
				var batch []klaviyo.Event
				for p := range 50 {
					e := ev(fmt.Sprint("p", p), n)
					if p == 7 && n%2 == 1 {
						// Same (profile, metric, unique_id) as the previous
						// event: a resend of one order. It must not share a
						// bulk request with its twin.
						e.UniqueID = fmt.Sprint("dup-", n-1)
					} else if p == 7 {
						e.UniqueID = fmt.Sprint("dup-", n)
					}
					batch = append(batch, e)
				}
				if err := o.Enqueue(context.Background(), batch, "test"); err != nil {
					t.Fatal(err)
				}
				want = append(want, batch...)
			}
			s := &fakeSender{}
			run(t, o, s)
			waitFor(t, "delivery", func() bool { return status(t, o).Pending == 0 })
			got := s.delivered()
			if len(got) != len(want) {
				t.Errorf("delivered %d, want %d", len(got), len(want))
			}
			last := map[string]int{}
			for _, e := range got {
				p, n := seq(e)
				if prev, ok := last[p]; ok && n < prev {
					t.Fatalf("profile %s: event %d arrived after %d", p, n, prev)
				}
				last[p] = n
			}
			bulk := 0
			for _, r := range s.allRequests() {
				if !r.bulk {
					continue
				}
				bulk++
				if len(r.events) > 1000 {
					t.Errorf("bulk request of %d events, want ≤ 1000", len(r.events))
				}
				keys := map[dedupKey]bool{}
				for _, e := range r.events {
					k := dedupKey{e.Profile.Key(), e.Metric, e.UniqueID}
					if keys[k] {
						t.Errorf("bulk request repeats %v", k)
					}
					keys[k] = true
				}
			}
			if bulk == 0 {
				t.Errorf("a backlog of %d events was sent without bulk requests", len(want))
			}
		})
	}
}

func TestBulkRejectionIsolatesBadEvents(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			const detail = `{"errors":[{"status":400,"code":"invalid","detail":"bad event"}]}`
			s := &fakeSender{fn: func(events []klaviyo.Event, bulk bool) klaviyo.Outcome {
				for _, e := range events {
					if strings.HasPrefix(e.UniqueID, "bad-") {
						return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 400, Detail: detail}
					}
				}
				return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
			}}
			var events []klaviyo.Event
			for n := range 400 {
				e := ev(fmt.Sprint("p", n%40), n)
				if n == 5 || n == 333 {
					e.UniqueID = fmt.Sprint("bad-", n)
				}
				events = append(events, e)
			}
			if err := o.Enqueue(context.Background(), events, "test"); err != nil {
				t.Fatal(err)
			}
			run(t, o, s)
			waitFor(t, "delivery", func() bool { return status(t, o).Pending == 0 })
			st := status(t, o)
			if st.Delivered != 398 || st.Dead != 2 {
				t.Errorf("status = %+v, want 398 delivered, 2 dead", st)
			}
			dl, err := DeadLetters(context.Background(), d, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range dl {
				got = append(got, l.UniqueID+" "+l.Response)
				if l.Status != 400 || l.Source != "test" || l.Metric != "Placed Order" {
					t.Errorf("dead letter %+v: want status 400, source test", l)
				}
			}
			want := []string{"bad-5 " + detail, "bad-333 " + detail}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("dead letters (-want +got):\n%s", diff)
			}
			// An answer that names no event isolates through the
			// single-event endpoint: the refused bulk request is the only
			// bulk request, and no event is sent singly more than once.
			var bulk, single int
			for _, r := range s.allRequests() {
				if r.bulk {
					bulk++
				} else {
					single++
				}
			}
			if bulk != 1 || single > 400 {
				t.Errorf("%d bulk and %d single requests to isolate 2 bad events among 400, want 1 bulk and at most 400 single", bulk, single)
			}

			// Once Klaviyo accepts them, a replay delivers them.
			s.setFn(nil)
			n, err := Replay(context.Background(), d, []int64{dl[0].ID}, false)
			if err != nil || n != 1 {
				t.Fatalf("replay one: %d, %v", n, err)
			}
			waitFor(t, "replayed delivery", func() bool { return status(t, o).Dead == 1 && status(t, o).Pending == 0 })
			n, err = Replay(context.Background(), d, nil, true)
			if err != nil || n != 1 {
				t.Fatalf("replay all: %d, %v", n, err)
			}
			waitFor(t, "replayed delivery", func() bool { st := status(t, o); return st.Dead == 0 && st.Pending == 0 })
			count := map[string]int{}
			for _, e := range s.delivered() {
				count[e.UniqueID]++
			}
			for _, e := range events {
				if count[e.UniqueID] != 1 {
					t.Errorf("event %s delivered %d times, want once", e.UniqueID, count[e.UniqueID])
				}
			}
		})
	}
}

func TestAuthFailurePausesInsteadOfDeadLettering(t *testing.T) {
	d := dbtest.SQLite(t)
	o := openOutbox(t, d, testOptions())
	s := &fakeSender{fn: func([]klaviyo.Event, bool) klaviyo.Outcome {
		return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 401, Detail: `{"errors":[{"code":"not_authenticated"}]}`}
	}}
	if err := o.Enqueue(context.Background(), []klaviyo.Event{ev("a", 1), ev("b", 1)}, "test"); err != nil {
		t.Fatal(err)
	}
	run(t, o, s)
	waitFor(t, "a few refused attempts", func() bool { return len(s.allRequests()) >= 4 })
	st := status(t, o)
	if st.Dead != 0 || st.Pending != 2 || !strings.Contains(st.LastError, "401") {
		t.Errorf("status = %+v, want 2 pending, none dead, last error naming 401", st)
	}
	s.setFn(nil)
	waitFor(t, "delivery once the key works", func() bool { return status(t, o).Delivered == 2 })
}

func TestPruneDeletesOnlyOldDeliveredRows(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			opts.Retention = time.Hour
			o := openOutbox(t, d, opts)
			ctx := context.Background()
			if err := o.Enqueue(ctx, []klaviyo.Event{ev("a", 1), ev("a", 2), ev("a", 3), ev("a", 4)}, "test"); err != nil {
				t.Fatal(err)
			}
			rows, _ := o.loadPending(ctx, 10)
			old := time.Now().Add(-2 * time.Hour).UnixMilli()
			// Row 0: delivered long ago; row 1: delivered just now; row 2:
			// dead long ago (dead letters are kept); row 3: pending.
			if err := o.record(ctx, []result{{id: rows[0].id, state: StateDelivered}, {id: rows[1].id, state: StateDelivered}, {id: rows[2].id, state: StateDead, detail: "x"}}); err != nil {
				t.Fatal(err)
			}
			for _, id := range []int64{rows[0].id, rows[2].id} {
				if _, err := d.ExecContext(ctx, d.Rebind(`UPDATE outbox_events SET updated_at = ? WHERE id = ?`), old, id); err != nil {
					t.Fatal(err)
				}
			}
			n, err := o.prune(ctx)
			if err != nil || n != 1 {
				t.Fatalf("prune = %d, %v; want 1 row", n, err)
			}
			st := status(t, o)
			if st.Delivered != 1 || st.Dead != 1 || st.Pending != 1 {
				t.Errorf("after prune: %+v, want 1 delivered, 1 dead, 1 pending", st)
			}
		})
	}
}

func TestOneLeaderAndTakeover(t *testing.T) {
	url := dbtest.PostgresURL(t, "outbox_leader")
	if url == "" {
		t.Skip("PostgreSQL unreachable")
	}
	ctx := context.Background()
	open := func() *db.DB {
		d, err := db.Open(ctx, "", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	o1, o2 := openOutbox(t, open(), testOptions()), openOutbox(t, open(), testOptions())
	s1, s2 := &fakeSender{}, &fakeSender{}
	stop1 := run(t, o1, s1)
	waitFor(t, "o1 to lead", func() bool { return o1.leader.Load() })
	run(t, o2, s2)
	var want []klaviyo.Event
	for n := range 10 {
		e := []klaviyo.Event{ev("a", n)}
		// Enqueue on the standby: the leader delivers it.
		if err := o2.Enqueue(ctx, e, "test"); err != nil {
			t.Fatal(err)
		}
		want = append(want, e...)
	}
	waitFor(t, "leader delivery", func() bool { return len(s1.delivered()) == 10 })
	if o2.leader.Load() || len(s2.allRequests()) != 0 {
		t.Fatalf("standby leads or sent %d requests while o1 led", len(s2.allRequests()))
	}
	stop1()
	waitFor(t, "o2 to take over", func() bool { return o2.leader.Load() })
	for n := 10; n < 20; n++ {
		e := []klaviyo.Event{ev("a", n)}
		if err := o1.Enqueue(ctx, e, "test"); err != nil {
			t.Fatal(err)
		}
		want = append(want, e...)
	}
	waitFor(t, "new leader delivery", func() bool { return len(s2.delivered()) == 10 })
	checkExactlyOnceInOrder(t, want, append(s1.delivered(), s2.delivered()...))
}

func TestSQLiteOneDeliveringProcess(t *testing.T) {
	path := t.TempDir() + "/one.db"
	open := func() *db.DB {
		d, err := db.OpenSQLite(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	o1, o2 := openOutbox(t, open(), testOptions()), openOutbox(t, open(), testOptions())
	s1, s2 := &fakeSender{}, &fakeSender{}
	stop1 := run(t, o1, s1)
	waitFor(t, "o1 to lead", func() bool { return o1.leader.Load() })
	run(t, o2, s2)
	if err := o2.Enqueue(context.Background(), []klaviyo.Event{ev("a", 1)}, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { return len(s1.delivered()) == 1 })
	if o2.leader.Load() || len(s2.allRequests()) != 0 {
		t.Fatal("a second process on the same SQLite file delivers too")
	}
	stop1()
	waitFor(t, "o2 to take over", func() bool { return o2.leader.Load() })
}

func TestDeliverBulkKeepsProfileOrderThroughRetries(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			opts.MaxBulkEvents = 50 // many requests per round, sharing profiles
			o := openOutbox(t, d, opts)
			var want []klaviyo.Event
			for n := range 400 {
				e := []klaviyo.Event{ev(fmt.Sprint("p", n%5), n)}
				want = append(want, e...)
			}
			if err := o.Enqueue(context.Background(), want, "test"); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			rng := rand.New(rand.NewPCG(3, 4))
			s := &fakeSender{fn: func([]klaviyo.Event, bool) klaviyo.Outcome {
				mu.Lock()
				defer mu.Unlock()
				if rng.IntN(10) < 3 {
					return klaviyo.Outcome{Kind: klaviyo.Retryable, Status: 429, RetryAfter: time.Millisecond}
				}
				return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
			}}
			run(t, o, s)
			waitFor(t, "delivery", func() bool { return status(t, o).Pending == 0 })
			checkExactlyOnceInOrder(t, want, s.delivered())
			bulk, failed := 0, 0
			for _, r := range s.allRequests() {
				if r.bulk {
					bulk++
				}
				if r.kind == klaviyo.Retryable {
					failed++
				}
			}
			if bulk < 8 || failed == 0 {
				t.Errorf("%d bulk requests, %d retryable: the test did not exercise what it should", bulk, failed)
			}
		})
	}
}

// On one processor, producers that are runnable when the first of them
// hands its events over share its commit: the commit loop yields to them
// before committing instead of committing at once and leaving them the
// next transactions.
func TestGroupCommitYieldsToRunnableProducers(t *testing.T) {
	d := dbtest.SQLite(t)
	o := openOutbox(t, d, testOptions())
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const rounds, producers = 20, 4
	before := o.commits.Load()
	for r := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, producers)
		for p := range producers {
			wg.Go(func() {
				errs <- o.Enqueue(context.Background(), []klaviyo.Event{ev(fmt.Sprint(p), r)}, "test")
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	commits := o.commits.Load() - before
	t.Logf("%d rounds of %d runnable producers: %d commits", rounds, producers, commits)
	// A round's producers are all runnable before the first enqueues; a
	// stray preemption may split one round, not most of them.
	if commits > rounds+rounds/5 {
		t.Errorf("%d commits for %d rounds of %d producers: runnable producers did not share the commit", commits, rounds, producers)
	}
}

// A steady stream of events is delivered in rounds at least RoundInterval
// apart, each carrying what arrived meanwhile, not a round per commit.
func TestDeliveryRoundsGatherASteadyStream(t *testing.T) {
	d := dbtest.SQLite(t)
	opts := testOptions()
	opts.RoundInterval = 200 * time.Millisecond
	opts.PollInterval = time.Hour // only commits wake the loop
	o := openOutbox(t, d, opts)
	s := &fakeSender{}
	defer run(t, o, s)()

	if err := o.Enqueue(context.Background(), []klaviyo.Event{ev("idle", 0)}, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first event", func() bool { return len(s.delivered()) == 1 })

	// A stream: one commit every millisecond for a second.
	r0 := o.rounds.Load()
	const events = 1000
	began := time.Now()
	for i := range events {
		if err := o.Enqueue(context.Background(), []klaviyo.Event{ev(fmt.Sprint("s", i%10), i)}, "test"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	waitFor(t, "the stream", func() bool { return len(s.delivered()) == 1+events })
	elapsed := time.Since(began)
	rounds := o.rounds.Load() - r0
	// Rounds start at least RoundInterval apart while events keep coming,
	// plus the round the first commit starts at once.
	limit := int64(elapsed/opts.RoundInterval) + 2
	t.Logf("%d commits over %s delivered in %d rounds (at most %d allowed)", events, elapsed.Round(time.Millisecond), rounds, limit)
	if rounds > limit {
		t.Errorf("%d delivery rounds for a %s stream with RoundInterval %s: want at most %d", rounds, elapsed.Round(time.Millisecond), opts.RoundInterval, limit)
	}
}

// Close while producers enqueue: every Enqueue returns, and each one that
// returned nil has its event stored; after Close, Enqueue refuses.
func TestCloseWhileEnqueueing(t *testing.T) {
	for round := range 20 {
		d := dbtest.SQLite(t)
		o, err := Open(context.Background(), d, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		const producers = 16
		var wg sync.WaitGroup
		var accepted sync.Map
		start := make(chan struct{})
		for p := range producers {
			wg.Go(func() {
				<-start
				for i := 0; ; i++ {
					e := ev(fmt.Sprint("p", p), i)
					e.UniqueID = fmt.Sprintf("r%d-p%d-%d", round, p, i)
					if err := o.Enqueue(context.Background(), []klaviyo.Event{e}, "test"); err != nil {
						if apperr.ErrorCode(err) != apperr.EUNAVAILABLE {
							t.Errorf("enqueue during Close: %v", err)
						}
						return
					}
					accepted.Store(e.UniqueID, true)
				}
			})
		}
		close(start)
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if err := o.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("an Enqueue is still waiting after Close")
		}
		if err := o.Enqueue(context.Background(), []klaviyo.Event{ev("late", 0)}, "test"); err == nil {
			t.Fatal("Enqueue after Close accepted events")
		}
		stored := map[string]bool{}
		rs, err := d.Query(`SELECT unique_id FROM outbox_events`)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var id string
			rs.Scan(&id)
			stored[id] = true
		}
		rs.Close()
		accepted.Range(func(k, _ any) bool {
			if !stored[k.(string)] {
				t.Errorf("round %d: %s acknowledged but not stored", round, k)
			}
			return true
		})
	}
}
