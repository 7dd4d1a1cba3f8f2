package orders_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/db"
	"github.com/snippetd/snippetd/klaviyo"
	"github.com/snippetd/snippetd/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/orders"
	"github.com/snippetd/snippetd/shop"
)

// genOrders makes n deterministic historical orders with 1 to 3 lines.
func genOrders(n int, seed uint64) []shop.Order {
	r := rand.New(rand.NewPCG(seed, 1))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]shop.Order, n)
	for i := range out {
		o := shop.Order{ID: fmt.Sprintf("H-%06d", i), PlacedAt: base.Add(time.Duration(i) * 17 * time.Minute), Currency: "USD",
			Customer: shop.Customer{Email: fmt.Sprintf("c%d@example.com", r.IntN(n/3+1)), FirstName: "C"}}
		for j := range 1 + r.IntN(3) {
			o.Items = append(o.Items, shop.LineItem{Quantity: int64(1 + r.IntN(3)), Product: shop.Product{
				ID: fmt.Sprintf("P%d", r.IntN(500)), Name: fmt.Sprintf("Product %d", j), Price: shop.Cents(int64(100 + r.IntN(10000))),
				Categories: []string{"Cat" + strconv.Itoa(r.IntN(9))}, Brand: "Brand"}})
		}
		out[i] = o
	}
	return out
}

func inputs(os []shop.Order) []orders.Input {
	in := make([]orders.Input, len(os))
	for i, o := range os {
		in[i] = orders.Input{Line: i + 1, Order: o}
	}
	return in
}

func totalEvents(os []shop.Order) int {
	n := 0
	for _, o := range os {
		n += 1 + len(o.Items)
	}
	return n
}

func sqliteStore(t *testing.T) *orders.Store {
	t.Helper()
	d, err := db.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := orders.OpenStore(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

// checkFake asserts the fake holds every event of os exactly once, all
// with backfill=true, in requests of at most 1,000 events.
func checkFake(t *testing.T, fake *klaviyotest.Server, os []shop.Order) {
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

func backfillClient(t *testing.T, fake *klaviyotest.Server, bulk klaviyo.Limits) *klaviyo.Client {
	t.Helper()
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL, BulkLimits: bulk,
		Backoff: klaviyo.Backoff{Base: time.Second, Max: 8 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBackfillFaultsAndResume backfills 2,000 orders against the fake
// enforcing Klaviyo's bulk limits, through every fault class, then runs
// again: nothing lost, nothing recorded twice, waits honoured, the re-run
// skips everything.
func TestBackfillFaultsAndResume(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	os := genOrders(2000, 7)
	st := sqliteStore(t)
	var w waits
	fake.FailNext(2, klaviyotest.Throttle(3))
	fake.FailNext(2, klaviyotest.ThrottleNoRetryAfter(2))
	fake.FailNext(1, klaviyotest.ServerError(503))
	fake.FailNext(1, klaviyotest.DropAfterAccept())
	fake.FailNext(1, klaviyotest.Drop())
	fake.FailNext(1, klaviyotest.ServerError(524))
	b := &orders.Backfill{Sender: backfillClient(t, fake, klaviyo.BulkLimits), Store: st, Sleep: w.sleep, Concurrency: 1}
	sum, err := b.Run(context.Background(), inputs(os))
	if err != nil {
		t.Fatal(err)
	}
	// 8 injected faults, plus any real throttle (a request can reach the
	// fake's bucket later than it left the client's).
	if sum.Sent != len(os) || sum.Events != totalEvents(os) || len(sum.Failures) != 0 || sum.Retries != 8+fake.Stats().Throttled {
		t.Fatalf("summary %+v", sum)
	}
	checkFake(t, fake, os)
	if got := w.d[:4]; !cmp.Equal(got, []time.Duration{3 * time.Second, 3 * time.Second, 2 * time.Second, 2 * time.Second}) {
		t.Errorf("waits %v: Retry-After and the throttled detail not honoured", got)
	}
	if dups := fake.Stats().Duplicates; dups == 0 {
		t.Errorf("the drop-after-accept batch should have been resent and deduped")
	}

	// Re-run: everything is skipped, no request.
	before := fake.Stats().Requests
	sum, err = b.Run(context.Background(), inputs(os))
	if err != nil || sum.Sent != 0 || sum.Skipped["already sent"] != len(os) || fake.Stats().Requests != before {
		t.Fatalf("re-run: %+v %v, %d new requests", sum, err, fake.Stats().Requests-before)
	}
}

// TestBackfillResumesAfterGivingUp: batches that exhaust their attempts
// are failures; the re-run sends exactly those orders.
func TestBackfillResumesAfterGivingUp(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	os := genOrders(900, 3) // about 2,700 events: 3 requests
	st := sqliteStore(t)
	var w waits
	fake.FailNext(1, klaviyotest.Throttle(1))
	fake.FailNext(3, klaviyotest.ServerError(503)) // the second batch gives up after 3 attempts
	b := &orders.Backfill{Sender: backfillClient(t, fake, klaviyo.BulkLimits), Store: st, Sleep: w.sleep, Concurrency: 1, MaxAttempts: 3}
	sum, err := b.Run(context.Background(), inputs(os))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Failures) == 0 || sum.Sent+len(sum.Failures) != len(os) || !strings.Contains(sum.Failures[0].Reason, "gave up after 3 attempts") {
		t.Fatalf("summary: sent %d, failures %d %v", sum.Sent, len(sum.Failures), sum.Failures[:min(1, len(sum.Failures))])
	}
	failed := len(sum.Failures)
	sum, err = b.Run(context.Background(), inputs(os))
	if err != nil || sum.Sent != failed || sum.Skipped["already sent"] != len(os)-failed || len(sum.Failures) != 0 {
		t.Fatalf("resume: %+v %v", sum, err)
	}
	checkFake(t, fake, os)
	if d := fake.Stats().Duplicates; d != 0 {
		t.Errorf("%d duplicates: the resume re-sent delivered orders", d)
	}
}

// TestBackfillIsolatesRejectedOrder: Klaviyo rejects a whole bulk request
// for one bad event; the batch is split until only that order fails.
func TestBackfillIsolatesRejectedOrder(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	os := genOrders(300, 5)
	// The fake's clock is the real one; the client and the backfill think
	// it is 2029, so an order "placed" in 2028-12 passes their validation
	// but is more than a year ahead for Klaviyo, which rejects it (400).
	future := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	os[123].PlacedAt = future.AddDate(0, -1, 0)
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL, Now: func() time.Time { return future }, BulkLimits: klaviyo.Unlimited})
	if err != nil {
		t.Fatal(err)
	}
	b := &orders.Backfill{Sender: c, Store: sqliteStore(t), Now: func() time.Time { return future }, Concurrency: 1}
	sum, err := b.Run(context.Background(), inputs(os))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Failures) != 1 || sum.Failures[0].OrderID != os[123].ID || !strings.Contains(sum.Failures[0].Reason, "status 400") || sum.Sent != len(os)-1 {
		t.Fatalf("summary: sent %d failures %+v", sum.Sent, sum.Failures)
	}
	checkFake(t, fake, append(append([]shop.Order(nil), os[:123]...), os[124:]...))
}

func TestBackfillStopsOnRefusedKey(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	fake.SetKeys("pk_another_account", klaviyotest.CompanyID)
	os := genOrders(50, 1)
	b := &orders.Backfill{Sender: backfillClient(t, fake, klaviyo.Unlimited), Store: sqliteStore(t)}
	sum, err := b.Run(context.Background(), inputs(os))
	if !errors.Is(err, orders.ErrAccount) || sum.Sent != 0 || len(sum.Failures) != len(os) {
		t.Fatalf("%v, sent %d, failures %d", err, sum.Sent, len(sum.Failures))
	}
}

func TestBackfillDryRunAndInputs(t *testing.T) {
	os := genOrders(20, 9)
	var jsonl, arr bytes.Buffer
	for i, o := range os {
		b, _ := json.Marshal(o)
		jsonl.Write(b)
		jsonl.WriteString("\n")
		if i == 4 {
			jsonl.WriteString(`{"id":"bad","placed_at":"2024-01-01T00:00:00Z","customer":{},"items":[]}` + "\n")
			jsonl.WriteString(`{"id":` + "\n")
		}
	}
	b, _ := json.Marshal(os)
	arr.Write(b)
	var csvb bytes.Buffer
	cw := csv.NewWriter(&csvb)
	cw.Write([]string{"order_id", "placed_at", "currency", "email", "first_name", "product_id", "product_name", "price", "quantity", "categories", "brand"})
	for _, o := range os {
		for _, l := range o.Items {
			cw.Write([]string{o.ID, o.PlacedAt.Format(time.RFC3339), o.Currency, o.Customer.Email, o.Customer.FirstName, l.Product.ID, l.Product.Name,
				l.Product.Price.String(), strconv.FormatInt(l.Quantity, 10), strings.Join(l.Product.Categories, "|"), l.Product.Brand})
		}
	}
	cw.Flush()

	fromArr, err := orders.ReadOrders(&arr, orders.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	fromCSV, err := orders.ReadOrders(&csvb, orders.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	ordersOf := func(in []orders.Input) []shop.Order {
		var out []shop.Order
		for _, x := range in {
			if x.Err != nil {
				t.Fatalf("line %d: %v", x.Line, x.Err)
			}
			out = append(out, x.Order)
		}
		return out
	}
	cmpMoney := cmp.Comparer(func(a, b shop.Money) bool { return a == b })
	if diff := cmp.Diff(os, ordersOf(fromArr), cmpMoney); diff != "" {
		t.Errorf("JSON array (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(os, ordersOf(fromCSV), cmpMoney); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}

	fromJSONL, err := orders.ReadOrders(&jsonl, orders.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	st := sqliteStore(t)
	// Pretend an earlier run sent the first two orders.
	if err := st.MarkBackfilled(context.Background(), []string{os[0].ID, os[1].ID}, []string{"", ""}, time.Now()); err != nil {
		t.Fatal(err)
	}
	fromJSONL = append(fromJSONL, orders.Input{Line: 99, Order: os[3]}) // duplicate id
	sum, err := (&orders.Backfill{Store: st, DryRun: true}).Run(context.Background(), fromJSONL)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum.Write(&out)
	if sum.Sent != 18 || sum.Events != totalEvents(os[2:]) || sum.Skipped["already sent"] != 2 || sum.Skipped["duplicate order id in the file"] != 1 || len(sum.Failures) != 2 {
		t.Fatalf("dry run summary:\n%s", out.String())
	}
	for _, want := range []string{"(dry run)", "would send 18 orders", "line 6, order bad: invalid: customer: needs at least one of", "line 7, order ?: unreadable"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestProgressBar(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var plain bytes.Buffer
	p := &orders.ProgressBar{W: &plain, Every: 5 * time.Second, Now: clock}
	p.Start(100)
	for i := 1; i <= 100; i++ {
		now = now.Add(time.Second)
		p.Update(orders.Progress{OrdersDone: i, OrdersTotal: 100, EventsSent: 3 * i, Requests: i})
	}
	p.Finish()
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	// First update, then one every 5 s (20 of 100 s), the last, and Finish.
	if len(lines) != 22 || !strings.Contains(lines[0], "1/100 orders") || !strings.Contains(lines[1], "3 events/s") || !strings.Contains(lines[1], "ETA 1m34s") {
		t.Errorf("%d plain lines:\n%s", len(lines), plain.String())
	}
	var term bytes.Buffer
	p = &orders.ProgressBar{W: &term, Terminal: true, Now: clock}
	p.Start(10)
	now = now.Add(2 * time.Second)
	p.Update(orders.Progress{OrdersDone: 5, OrdersTotal: 10, EventsSent: 10})
	p.Finish()
	if s := term.String(); !strings.Contains(s, "\r\x1b[K[===============               ] 5/10 orders  50.0%") || !strings.Contains(s, "ETA 2s") || !strings.HasSuffix(s, "\n") {
		t.Errorf("terminal bar %q", s)
	}
}

// TestBackfill20000 is the benchmark of docs/benchmarks.md: 20,000 orders
// against the fake enforcing Klaviyo's bulk limits (10/s, 150/min) with the
// client's default limits. Opt in with SNIPPETD_BACKFILL_20K=1.
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
		fake := klaviyotest.NewServer(t)
		lim := klaviyo.BulkLimits
		if !limited {
			fake.SetLimits(klaviyotest.PathBulkEvents, klaviyotest.Limits{})
			lim = klaviyo.Unlimited
		}
		c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL, BulkLimits: lim})
		if err != nil {
			t.Fatal(err)
		}
		b := &orders.Backfill{Sender: c, Store: sqliteStore(t)}
		start, cpu0 := time.Now(), cpu()
		sum, err := b.Run(context.Background(), inputs(ords))
		el, used := time.Since(start), cpu()-cpu0
		if err != nil || sum.Sent != len(ords) {
			t.Fatalf("%v %+v", err, sum)
		}
		checkFake(t, fake, ords)
		return result{el, used, sum.Events, fake.StatsFor(klaviyotest.PathBulkEvents).Requests, fake.Stats().Throttled + sum.Retries}
	}
	base := run(false)
	lim := run(true)
	n := lim.requests
	// The limits' floor for n requests from full buckets: the burst bucket
	// (10, refilling 10/s) and the steady one (150, refilling 2.5/s).
	floor := max(float64(n-10)/10, float64(n-150)/2.5, 0)
	t.Logf("baseline (no limits): orders %d, events %d, requests %d, took %s (CPU %s) = %.0f events/s",
		len(ords), base.events, base.requests, base.el.Round(time.Millisecond), base.cpu.Round(time.Millisecond), float64(base.events)/base.el.Seconds())
	t.Logf("Klaviyo's bulk limits: requests %d (throttled or retried %d), took %s (CPU %s, %.2fx) = %.0f events/s, %.2fx the baseline's time; the limits allow these %d requests in %.1fs at best (%.0f events/s), %d events/s sustained beyond the first 150 requests",
		n, lim.throttle, lim.el.Round(time.Millisecond), lim.cpu.Round(time.Millisecond), lim.cpu.Seconds()/base.cpu.Seconds(), float64(lim.events)/lim.el.Seconds(), lim.el.Seconds()/base.el.Seconds(), n, floor, float64(lim.events)/floor, 150*1000/60)
}
