package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/snippetd/snippetd/internal/orders/orderstest"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/internal/outbox"
	"github.com/snippetd/snippetd/shop"
)

// genOrders makes n deterministic historical orders (orderstest.GenOrders).
var genOrders = orderstest.GenOrders

// backfillEnv is a data directory, an orders file and the config to run
// the backfill on them against fake.
type backfillEnv struct {
	dir, file string
	fake      *klaviyotest.Server
}

func newBackfillEnv(t *testing.T, os_ []shop.Order) backfillEnv {
	t.Helper()
	e := backfillEnv{dir: t.TempDir(), fake: klaviyotest.NewServer(t)}
	e.file = filepath.Join(e.dir, "orders.jsonl")
	var buf bytes.Buffer
	for _, o := range os_ {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(e.file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e backfillEnv) cfg(t *testing.T, key bool) config.Config {
	t.Helper()
	env := map[string]string{"SNIPPETD_DATA_DIR": filepath.Join(e.dir, "data")}
	if key {
		env["SNIPPETD_PRIVATE_KEY"], env["SNIPPETD_KLAVIYO_URL"] = klaviyotest.PrivateKey, e.fake.URL
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (e backfillEnv) run(t *testing.T, key bool, o BackfillOptions) (BackfillResult, string, string, error) {
	t.Helper()
	o.Orders = e.file
	o.Outbox = outbox.Options{PollInterval: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, LeaderPoll: 50 * time.Millisecond}
	o.Poll = 20 * time.Millisecond
	var out, prog bytes.Buffer
	res, err := Backfill(context.Background(), e.cfg(t, key), o, nil, &out, &prog, false, nil)
	return res, out.String(), prog.String(), err
}

// checkDelivered asserts the fake holds every event of os exactly once,
// all with backfill=true, in requests of at most 1,000 events.
func checkDelivered(t *testing.T, fake *klaviyotest.Server, os []shop.Order) {
	t.Helper()
	want := map[string]bool{}
	for _, o := range os {
		want["Placed Order/"+o.ID] = true
		for i := range o.Items {
			want["Ordered Product/"+orders.LineUniqueID(o.ID, i)] = true
		}
	}
	got := map[string]bool{}
	perReq := map[int]int{}
	for _, e := range fake.Events() {
		k := e.Metric + "/" + e.UniqueID
		if got[k] {
			t.Fatalf("%s recorded twice", k)
		}
		got[k] = true
		if !e.Backfill {
			t.Fatalf("%s without backfill", k)
		}
		perReq[e.Request]++
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("%s lost", k)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("fake holds %d events, want %d", len(got), len(want))
	}
	for r, n := range perReq {
		if n > klaviyo.MaxBulkEvents {
			t.Fatalf("request %d carried %d events", r, n)
		}
	}
}

func totalEvents(os []shop.Order) int {
	n := 0
	for _, o := range os {
		n += 1 + len(o.Items)
	}
	return n
}

// TestBackfillCommand: a dry run stores nothing and needs no key; the run
// enqueues under source "backfill" (what the inspector lists), delivers,
// and reports; a re-run skips every order and sends nothing.
func TestBackfillCommand(t *testing.T) {
	ords := genOrders(3, 1)
	e := newBackfillEnv(t, ords)
	if _, _, _, err := e.run(t, false, BackfillOptions{}); err == nil || !strings.Contains(err.Error(), "SNIPPETD_PRIVATE_KEY") {
		t.Fatalf("no key, no dry run: %v", err)
	}
	res, _, _, err := e.run(t, false, BackfillOptions{DryRun: true})
	if err != nil || res.Enqueued != 3 || res.Events != totalEvents(ords) || e.fake.Stats().Requests != 0 {
		t.Fatalf("dry run: %v %+v", err, res)
	}
	d, err := db.Open(context.Background(), filepath.Join(e.dir, "data"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if c, err := outbox.Counts(context.Background(), d); err != nil || c.Pending+c.Delivered+c.Dead != 0 {
		t.Fatalf("dry run stored events: %+v %v", c, err)
	}

	res, out, prog, err := e.run(t, true, BackfillOptions{})
	if err != nil || res.Enqueued != 3 || !res.Waited || res.Delivered != int64(totalEvents(ords)) || res.Dead != 0 {
		t.Fatalf("first run: %v %+v\n%s", err, res, out)
	}
	checkDelivered(t, e.fake, ords)
	if want := fmt.Sprintf("%d/%d events 100.0%%", totalEvents(ords), totalEvents(ords)); !strings.Contains(prog, want) {
		t.Errorf("progress lacks %q: %q", want, prog)
	}
	if want := fmt.Sprintf("delivered: %d events; dead-lettered: 0", totalEvents(ords)); !strings.Contains(out, want) {
		t.Errorf("summary lacks %q:\n%s", want, out)
	}
	listed, err := outbox.List(context.Background(), d, outbox.Query{Source: BackfillSource})
	if err != nil || len(listed) != totalEvents(ords) {
		t.Fatalf("outbox lists %d backfill events (%v), want %d", len(listed), err, totalEvents(ords))
	}

	requests := e.fake.Stats().Requests
	res, out, _, err = e.run(t, true, BackfillOptions{})
	if err != nil || res.Enqueued != 0 || res.Skipped["already enqueued"] != 3 || e.fake.Stats().Requests != requests {
		t.Fatalf("second run: %v %+v", err, res)
	}
	if !strings.Contains(out, "skipped: 3 (already enqueued: 3)") {
		t.Errorf("summary: %s", out)
	}
}

// TestBackfillFaultsAndResume backfills 2,000 orders through the outbox
// against the fake enforcing Klaviyo's bulk limits, through every fault
// class: every event is delivered exactly once; a --no-wait run stores
// them and the next run delivers what it left.
func TestBackfillFaultsAndResume(t *testing.T) {
	ords := genOrders(2000, 7)
	e := newBackfillEnv(t, ords)
	// The first half is only queued (as if snippetd serve were to deliver).
	half := newBackfillEnv(t, ords[:1000])
	half.dir, half.fake = e.dir, e.fake
	res, _, _, err := half.run(t, true, BackfillOptions{NoWait: true})
	if err != nil || res.Enqueued != 1000 || res.Waited || e.fake.Stats().Requests != 0 {
		t.Fatalf("--no-wait: %v %+v, %d requests", err, res, e.fake.Stats().Requests)
	}
	e.fake.FailNext(1, klaviyotest.Throttle(1))
	e.fake.FailNext(1, klaviyotest.ThrottleNoRetryAfter(1))
	e.fake.FailNext(1, klaviyotest.ServerError(503))
	e.fake.FailNext(1, klaviyotest.DropAfterAccept())
	e.fake.FailNext(1, klaviyotest.Drop())
	e.fake.FailNext(1, klaviyotest.ServerError(524))
	// The outbox backs off (its MaxBackoff is short here); the client
	// only reports the waits Klaviyo asks for.
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: e.fake.URL, BulkBuckets: klaviyo.BulkBuckets})
	if err != nil {
		t.Fatal(err)
	}
	res, out, _, err := e.run(t, true, BackfillOptions{Sender: c})
	if err != nil || res.Enqueued != 1000 || res.Skipped["already enqueued"] != 1000 || res.Delivered != int64(totalEvents(ords)) || res.Dead != 0 {
		t.Fatalf("run: %v %+v\n%s", err, res, out)
	}
	checkDelivered(t, e.fake, ords)
	if e.fake.Stats().Duplicates == 0 {
		t.Errorf("the drop-after-accept request should have been resent and deduped")
	}
}

// TestBackfillDeadLetters: Klaviyo rejects one order's events; they become
// dead letters with Klaviyo's response, the rest is delivered, and the
// command fails pointing to snippetd outbox dead-letters.
func TestBackfillDeadLetters(t *testing.T) {
	ords := genOrders(300, 5)
	e := newBackfillEnv(t, ords)
	client, err := NewKlaviyoClient(e.cfg(t, true), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Klaviyo refuses order 123's events for a reason no local check
	// knows (400 with its error body); the rest goes to the fake.
	rej := &rejectingSender{Sender: client, prefix: ords[123].ID}
	res, out, _, err := e.run(t, true, BackfillOptions{Sender: rej})
	if err == nil || !strings.Contains(err.Error(), "dead-lettered") {
		t.Fatalf("want a dead-letter error, got %v\n%s", err, out)
	}
	bad := int64(1 + len(ords[123].Items))
	if res.Enqueued != len(ords) || res.Dead != bad || res.Delivered != int64(totalEvents(ords))-bad || len(res.DeadLetters) != int(bad) || res.DeadLetters[0].Status != 400 {
		t.Fatalf("result %+v\n%s", res, out)
	}
	if !strings.Contains(out, "snippetd outbox dead-letters") || !strings.Contains(out, "profile rejected") || res.DeadLetters[0].Response != rejection {
		t.Errorf("summary:\n%s", out)
	}
	checkDelivered(t, e.fake, append(append([]shop.Order(nil), ords[:123]...), ords[124:]...))
}

// TestBackfillWatchesWhileServeDelivers: another outbox holding the
// delivery lock on the same database (as snippetd serve does) delivers;
// the command only watches, and its own sender is never used.
func TestBackfillWatchesWhileServeDelivers(t *testing.T) {
	ords := genOrders(200, 11)
	e := newBackfillEnv(t, ords)
	cfg := e.cfg(t, true)
	os.MkdirAll(cfg.DataDir, 0o750)
	d, err := db.Open(context.Background(), cfg.DataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	serve, err := outbox.Open(context.Background(), d, outbox.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer serve.Close(context.Background())
	client, err := NewKlaviyoClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { serve.Run(ctx, client); close(done) }()
	defer func() { cancel(); <-done }()
	for s, _ := serve.Status(ctx); !s.Leader; s, _ = serve.Status(ctx) {
		time.Sleep(10 * time.Millisecond)
	}
	unused := &countingSender{}
	res, out, _, err := e.run(t, true, BackfillOptions{Sender: unused})
	if err != nil || res.Delivered != int64(totalEvents(ords)) || unused.n != 0 {
		t.Fatalf("%v %+v, own sender used %d times\n%s", err, res, unused.n, out)
	}
	checkDelivered(t, e.fake, ords)
}

// rejectingSender answers 400 to any request holding an event whose
// unique_id starts with prefix, and forwards the others.
type rejectingSender struct {
	klaviyo.Sender
	prefix string
}

const rejection = `{"errors":[{"status":400,"code":"invalid","title":"Invalid input.","detail":"profile rejected"}]}`

func (r *rejectingSender) CreateEvent(ctx context.Context, e klaviyo.Encoded) klaviyo.Outcome {
	if strings.HasPrefix(e.UniqueID, r.prefix) {
		return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 400, Detail: rejection}
	}
	return r.Sender.CreateEvent(ctx, e)
}

func (r *rejectingSender) BulkCreateEvents(ctx context.Context, evs []klaviyo.Encoded) klaviyo.Outcome {
	for _, e := range evs {
		if strings.HasPrefix(e.UniqueID, r.prefix) {
			return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 400, Detail: rejection}
		}
	}
	return r.Sender.BulkCreateEvents(ctx, evs)
}

// countingSender counts calls and delivers nothing.
type countingSender struct{ n int }

func (c *countingSender) CreateEvent(context.Context, klaviyo.Encoded) klaviyo.Outcome {
	c.n++
	return klaviyo.Outcome{Kind: klaviyo.Retryable}
}

func (c *countingSender) BulkCreateEvents(context.Context, []klaviyo.Encoded) klaviyo.Outcome {
	c.n++
	return klaviyo.Outcome{Kind: klaviyo.Retryable}
}

// TestBackfill20000 is the benchmark of docs/benchmarks.md: 20,000 orders
// through the outbox against the fake enforcing Klaviyo's bulk limits
// (10/s, 150/min) with the client's default limits, beside a baseline
// without limits. Opt in with SNIPPETD_BACKFILL_20K=1.
func TestBackfill20000(t *testing.T) {
	if os.Getenv("SNIPPETD_BACKFILL_20K") != "1" {
		t.Skip("set SNIPPETD_BACKFILL_20K=1 to run the 20,000-order backfill benchmark")
	}
	ords := genOrders(20000, 42)
	type result struct {
		el, cpu  time.Duration
		events   int
		requests int
		throttle int
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	run := func(limited bool) result {
		e := newBackfillEnv(t, ords)
		lim := klaviyo.BulkBuckets
		if !limited {
			e.fake.SetLimits(klaviyotest.PathBulkEvents, klaviyotest.Limits{})
			lim = klaviyo.Unlimited
		}
		c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: e.fake.URL, BulkBuckets: lim})
		if err != nil {
			t.Fatal(err)
		}
		start, cpu0 := time.Now(), cpu()
		var out, prog bytes.Buffer
		res, err := Backfill(context.Background(), e.cfg(t, true), BackfillOptions{Orders: e.file, Sender: c}, nil, &out, &prog, false, nil)
		el, used := time.Since(start), cpu()-cpu0
		if err != nil || res.Enqueued != len(ords) {
			t.Fatalf("%v %+v", err, res)
		}
		checkDelivered(t, e.fake, ords)
		st := e.fake.StatsFor(klaviyotest.PathBulkEvents)
		return result{el, used, int(res.Delivered), st.Requests + e.fake.StatsFor(klaviyotest.PathEvents).Requests, e.fake.Stats().Throttled}
	}
	base := run(false)
	lim := run(true)
	n := lim.requests
	// The limits' floor for n requests from full buckets: the burst bucket
	// (10, refilling 10/s) and the steady one (150, refilling 2.5/s).
	floor := max(float64(n-10)/10, float64(n-150)/2.5, 0)
	t.Logf("baseline (no limits): orders %d, events %d, requests %d, took %s (CPU %s) = %.0f events/s",
		len(ords), base.events, base.requests, base.el.Round(time.Millisecond), base.cpu.Round(time.Millisecond), float64(base.events)/base.el.Seconds())
	t.Logf("Klaviyo's bulk limits: requests %d (429s from the fake %d), took %s (CPU %s, %.2fx) = %.0f events/s, %.2fx the baseline's time; the limits allow these %d requests in %.1fs at best (%.0f events/s), %d events/s sustained beyond the first 150 requests",
		n, lim.throttle, lim.el.Round(time.Millisecond), lim.cpu.Round(time.Millisecond), lim.cpu.Seconds()/base.cpu.Seconds(), float64(lim.events)/lim.el.Seconds(), lim.el.Seconds()/base.el.Seconds(), n, floor, float64(lim.events)/floor, 150*1000/60)
}
