package outbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// fakeClient is a client of the fake Klaviyo without client-side limits.
func fakeClient(t testing.TB, fake *klaviyotest.Server) *klaviyo.Client {
	t.Helper()
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL, EventBuckets: klaviyo.Unlimited, BulkBuckets: klaviyo.Unlimited})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOneDelivererWhileLockSessionsDie runs two instances on one
// PostgreSQL database under a steady stream and terminates the backend
// holding the leader's advisory lock every 1-1.5 s, while both processes
// live on: every acknowledged event reaches the fake exactly once.
func TestOneDelivererWhileLockSessionsDie(t *testing.T) {
	url := dbtest.PostgresURL(t, "outbox_fence")
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
	fake := klaviyotest.NewServer(t)
	fake.SetLimits(klaviyotest.PathEvents, klaviyotest.Limits{})
	fake.SetLimits(klaviyotest.PathBulkEvents, klaviyotest.Limits{})
	// A little latency, so that requests are in flight when a lock dies.
	fake.FailFor(time.Hour, klaviyotest.Slow(20*time.Millisecond))
	opts := Options{PollInterval: 20 * time.Millisecond, LeaderPoll: 200 * time.Millisecond, LeaseDuration: time.Second, MaxBackoff: 200 * time.Millisecond}
	d1, d2 := open(), open()
	o1, o2 := openOutbox(t, d1, opts), openOutbox(t, d2, opts)
	run(t, o1, fakeClient(t, fake))
	run(t, o2, fakeClient(t, fake))

	admin := open()
	const produce = 12 * time.Second
	var acked atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		for n := 0; time.Since(start) < produce; n++ {
			var batch []klaviyo.Event
			for i := range 10 {
				batch = append(batch, ev(fmt.Sprint("p", (n*10+i)%50), n*10+i))
			}
			o := o1
			if n%2 == 1 {
				o = o2
			}
			if err := o.Enqueue(ctx, batch, "test"); err == nil {
				acked.Add(int64(len(batch)))
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	var kills int
	wg.Go(func() {
		for time.Since(start) < produce {
			time.Sleep(time.Second + time.Duration(kills%3)*250*time.Millisecond)
			var n int
			err := admin.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
				WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
			if err != nil {
				t.Errorf("terminate lock holder: %v", err)
				return
			}
			kills += n
		}
	})
	wg.Wait()
	produced := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	got, err := fake.WaitEvents(wctx, int(acked.Load()))
	if err != nil {
		t.Fatalf("acknowledged %d, delivered %d: %v", acked.Load(), len(got), err)
	}
	recovered := time.Since(produced)
	time.Sleep(2 * opts.LeaseDuration) // late sends would show up now
	st := fake.Stats()
	seen := map[string]int{}
	for _, e := range fake.Events() {
		seen[e.UniqueID]++
	}
	t.Logf("leader sessions killed %d times: acknowledged %d, delivered %d, missing %d, sent twice %d, drained %s after the last enqueue",
		kills, acked.Load(), len(seen), acked.Load()-int64(len(seen)), st.Duplicates, recovered.Round(time.Millisecond))
	if kills < 5 {
		t.Errorf("only %d lock sessions killed", kills)
	}
	if st.Duplicates != 0 {
		t.Errorf("%d events were sent twice", st.Duplicates)
	}
	if int64(len(seen)) != acked.Load() {
		t.Errorf("delivered %d distinct events, acknowledged %d", len(seen), acked.Load())
	}
}
