package outbox

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// distinctEvents returns n events of n distinct profiles.
func distinctEvents(prefix string, n int) []klaviyo.Event {
	var out []klaviyo.Event
	for i := range n {
		out = append(out, ev(fmt.Sprint(prefix, i), i))
	}
	return out
}

// TestMarkFailureRetriesTheMarkNotTheSend refuses to mark events
// delivered for a while (as a full disk would): the events Klaviyo
// accepted are recorded once storage is back, never sent again.
func TestMarkFailureRetriesTheMarkNotTheSend(t *testing.T) {
	for _, n := range []int{40, 600} { // single events, then bulk
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			d := dbtest.SQLite(t)
			fake := klaviyotest.NewServer(t)
			fake.SetLimits(klaviyotest.PathEvents, klaviyotest.Limits{})
			fake.SetLimits(klaviyotest.PathBulkEvents, klaviyotest.Limits{})
			o := openOutbox(t, d, testOptions())
			ctx := context.Background()
			if _, err := d.Write.ExecContext(ctx, `CREATE TRIGGER refuse_mark BEFORE UPDATE OF state ON outbox_events
				WHEN NEW.state = 'delivered' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
				t.Fatal(err)
			}
			if err := o.Enqueue(ctx, distinctEvents("m", n), "test"); err != nil {
				t.Fatal(err)
			}
			run(t, o, fakeClient(t, fake))
			// Klaviyo accepts the first requests; marking them fails for
			// several rounds.
			waitFor(t, "failed marks", func() bool { return fake.Stats().Events > 0 && o.lastErr.Load() != nil })
			time.Sleep(300 * time.Millisecond)
			if _, err := d.Write.ExecContext(ctx, `DROP TRIGGER refuse_mark`); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "marks", func() bool { return status(t, o).Pending == 0 })
			st := fake.Stats()
			t.Logf("acknowledged %d, delivered %d, sent twice %d, requests %d", n, st.Events, st.Duplicates, st.Requests)
			if st.Duplicates != 0 || st.Events != n {
				t.Errorf("fake holds %d events and %d duplicates; want %d and 0", st.Events, st.Duplicates, n)
			}
		})
	}
}

// fakeTime drives the outbox's waits and the fake's clock together, so a
// long outage passes at once and the test reads the scheduled waits.
type fakeTime struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) pause(ctx context.Context, d time.Duration) bool {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.now = f.now.Add(d)
	f.mu.Unlock()
	return ctx.Err() == nil
}

func (f *fakeTime) taken() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.waits...)
}

// TestBackoffFollowsRoundsAndProbesRecovery: eight requests failing
// together in one round are one failure (one short wait), and during a
// two-minute outage each round is one probe request, so delivery resumes
// within seconds of Klaviyo's return.
func TestBackoffFollowsRoundsAndProbesRecovery(t *testing.T) {
	d := dbtest.SQLite(t)
	fake := klaviyotest.NewServer(t)
	clock := &fakeTime{now: time.Now()}
	fake.SetClock(clock.Now)
	fake.SetLimits(klaviyotest.PathEvents, klaviyotest.Limits{})
	o := openOutbox(t, d, Options{PollInterval: 20 * time.Millisecond})
	o.pauseHook = clock.pause
	ctx := context.Background()

	// A blip: the eight requests of one round all get 503.
	fake.FailNext(8, klaviyotest.ServerError(503))
	if err := o.Enqueue(ctx, distinctEvents("blip", 8), "test"); err != nil {
		t.Fatal(err)
	}
	run(t, o, fakeClient(t, fake))
	waitFor(t, "delivery after the blip", func() bool { return fake.Stats().Events == 8 })
	waits := clock.taken()
	if len(waits) != 1 || waits[0] > 500*time.Millisecond {
		t.Errorf("after one failed round of 8 requests the loop waited %v; want one wait of at most 500ms", waits)
	}
	t.Logf("503 blip on 8 concurrent requests: waits %v", waits)

	// An outage of two minutes (on the fake's clock, which the loop's
	// waits advance).
	outage := 2 * time.Minute
	before := fake.Stats().Requests
	fake.FailFor(outage, klaviyotest.ServerError(503))
	end := clock.Now().Add(outage)
	if err := o.Enqueue(ctx, distinctEvents("out", 8), "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after the outage", func() bool { return fake.Stats().Events == 16 })
	recovered := clock.Now().Sub(end)
	requests := fake.Stats().Requests - before
	rounds := len(clock.taken()) - len(waits)
	t.Logf("2 min outage: %d failed rounds, %d requests, delivery resumed %s after Klaviyo returned", rounds, requests, recovered.Round(time.Millisecond))
	if recovered > 5*time.Second {
		t.Errorf("delivery resumed %s after the outage ended; want within 5s", recovered)
	}
	// The first failed round's eight requests, one probe per later round,
	// then the rounds that deliver the rest.
	if requests > 8+rounds+8 {
		t.Errorf("%d requests over %d failed rounds: failing rounds should send one probe each", requests, rounds)
	}
}

// TestStopLetsInFlightBulkFinish stops the loop (as SIGTERM does) during a
// slow bulk request: it is answered and recorded within the grace, so the
// next process does not send it again.
func TestStopLetsInFlightBulkFinish(t *testing.T) {
	d := dbtest.SQLite(t)
	fake := klaviyotest.NewServer(t)
	fake.SetLimits(klaviyotest.PathBulkEvents, klaviyotest.Limits{})
	fake.FailNext(1, klaviyotest.Slow(time.Second).OnPath(klaviyotest.PathBulkEvents))
	ctx := context.Background()
	o, err := Open(ctx, d, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	if err := o.Enqueue(ctx, distinctEvents("s", n), "test"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { o.Run(rctx, fakeClient(t, fake)); close(done) }()
	waitFor(t, "a bulk request in flight", func() bool { return len(fake.Requests()) > 0 })
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := o.Stop(sctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	cancel()
	<-done
	if err := o.Close(sctx); err != nil {
		t.Fatal(err)
	}

	// The next process.
	o2 := openOutbox(t, d, testOptions())
	run(t, o2, fakeClient(t, fake))
	waitFor(t, "delivery", func() bool { return status(t, o2).Pending == 0 })
	st := fake.Stats()
	t.Logf("stop during a slow bulk request: acknowledged %d, delivered %d, sent twice %d", n, st.Events, st.Duplicates)
	if st.Events != n || st.Duplicates != 0 {
		t.Errorf("fake holds %d events and %d duplicates; want %d and 0", st.Events, st.Duplicates, n)
	}
}
