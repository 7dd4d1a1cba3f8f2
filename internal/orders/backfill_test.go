package orders_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/orders/orderstest"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/shop"
)

// genOrders makes n deterministic historical orders (orderstest.GenOrders).
var genOrders = orderstest.GenOrders

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

// recordingPublisher stores what it is given; refuse makes it answer
// EINVALID for any batch holding an event of that order id.
type recordingPublisher struct {
	refuse string
	calls  int
	got    []klaviyo.Event
}

func (p *recordingPublisher) Publish(ctx context.Context, evs []klaviyo.Event) error {
	p.calls++
	for _, e := range evs {
		if p.refuse != "" && strings.HasPrefix(e.UniqueID, p.refuse) {
			return apperr.FieldErrorf("events[0].time", "must be between 1990 and one year from now")
		}
	}
	p.got = append(p.got, evs...)
	return nil
}

// TestBackfillEnqueuesInChunksAndResumes: whole orders in chunks of about
// 1,000 events, backfill=true, each order recorded; a chunk the outbox
// refuses is retried order by order so only the refused order fails; the
// re-run publishes nothing.
func TestBackfillEnqueuesInChunksAndResumes(t *testing.T) {
	os := genOrders(900, 3)
	st := sqliteStore(t)
	pub := &recordingPublisher{refuse: os[500].ID}
	b := &orders.Backfill{Publisher: pub, Store: st}
	sum, err := b.Run(context.Background(), inputs(os))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Enqueued != len(os)-1 || len(sum.Failures) != 1 || sum.Failures[0].OrderID != os[500].ID || !strings.Contains(sum.Failures[0].Reason, "refused by the outbox: events[0].time") {
		t.Fatalf("summary %+v", sum)
	}
	want := map[string]bool{}
	for i, o := range os {
		if i == 500 {
			continue
		}
		want["Placed Order/"+o.ID] = true
		for j := range o.Items {
			want["Ordered Product/"+orders.LineUniqueID(o.ID, j)] = true
		}
	}
	got := map[string]bool{}
	for _, e := range pub.got {
		k := e.Metric + "/" + e.UniqueID
		if got[k] || !e.Backfill {
			t.Fatalf("%s published twice or without backfill", k)
		}
		got[k] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("published (-want +got):\n%s", diff)
	}
	if sum.Events != len(pub.got) {
		t.Errorf("summary counts %d events, %d published", sum.Events, len(pub.got))
	}

	calls := pub.calls
	pub.refuse = ""
	sum, err = b.Run(context.Background(), inputs(os))
	if err != nil || sum.Enqueued != 1 || sum.Skipped["already enqueued"] != len(os)-1 || pub.calls != calls+1 {
		t.Fatalf("resume: %+v %v, %d publishes", sum, err, pub.calls-calls)
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

	fromArr, err := orders.ReadOrders(&arr, orders.FormatAuto, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	fromCSV, err := orders.ReadOrders(&csvb, orders.FormatAuto, time.UTC)
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

	fromJSONL, err := orders.ReadOrders(&jsonl, orders.FormatAuto, time.UTC)
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
	if sum.Enqueued != 18 || sum.Events != totalEvents(os[2:]) || sum.Skipped["already enqueued"] != 2 || sum.Skipped["duplicate order id in the file"] != 1 || len(sum.Failures) != 2 {
		t.Fatalf("dry run summary:\n%s", out.String())
	}
	for _, want := range []string{"(dry run)", "would enqueue 18 orders", "line 6, order bad: invalid: customer: needs at least one of", "line 7, order ?: unreadable"} {
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
	p.Start(300)
	for i := 1; i <= 100; i++ {
		now = now.Add(time.Second)
		p.Update(orders.Progress{EventsDone: 3 * i, EventsTotal: 300, Dead: i / 50})
	}
	p.Finish()
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	// First update, then one every 5 s (20 of 100 s), the last, and Finish.
	if len(lines) != 22 || !strings.Contains(lines[0], "3/300 events") || !strings.Contains(lines[1], "3 events/s") || !strings.Contains(lines[1], "ETA 1m34s") || !strings.Contains(lines[len(lines)-1], "2 dead-lettered") {
		t.Errorf("%d plain lines:\n%s", len(lines), plain.String())
	}
	var term bytes.Buffer
	p = &orders.ProgressBar{W: &term, Terminal: true, Now: clock}
	p.Start(10)
	now = now.Add(2 * time.Second)
	p.Update(orders.Progress{EventsDone: 5, EventsTotal: 10})
	p.Finish()
	if s := term.String(); !strings.Contains(s, "\r\x1b[K[===============               ] 5/10 events  50.0%") || !strings.Contains(s, "ETA 2s") || !strings.HasSuffix(s, "\n") {
		t.Errorf("terminal bar %q", s)
	}
}
