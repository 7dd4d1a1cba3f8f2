package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/shop"
)

// benchEvent is a realistic Placed Order event (about 600 bytes stored);
// events come four to a shopper in a row, like an order with its Ordered
// Product events.
func benchEvent(i int) klaviyo.Event {
	props, _ := json.Marshal(map[string]any{
		"OrderId": fmt.Sprint("order-", i), "ItemNames": []string{"Winnie the Pooh", "A Tale of Two Cities"},
		"Categories": []string{"Fiction", "Classics", "Children"}, "DiscountCode": "FREESHIP",
		"Items":          []map[string]any{{"ProductID": "1111", "SKU": "WINNIEPOOH", "ProductName": "Winnie the Pooh", "Quantity": 1, "ItemPrice": 9.99, "RowTotal": 9.99}},
		"BillingAddress": map[string]any{"FirstName": "John", "City": "Boston", "RegionCode": "MA", "CountryCode": "US", "Zip": "02110"},
	})
	return klaviyo.Event{Metric: "Placed Order", Profile: klaviyo.Profile{Email: fmt.Sprintf("shopper%d@example.com", i/4), FirstName: "John"},
		Properties: props, Time: time.Unix(1700000000, 0).UTC(), Value: shop.Cents(2998), ValueCurrency: "USD"}
}

// runProducers runs b.N operations spread over p goroutines and reports
// events/s and the p50/p99 latency of one operation.
func runProducers(b *testing.B, p int, op func(i int) error) {
	var next atomic.Int64
	lat := make([][]time.Duration, p)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range p {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEnqueue measures durable enqueue (one event per call) through
// group commit, beside the baseline of raw inserts with one commit per
// row on the same database, at 1, 16, 64 (the proxy load test's wrk
// connections) and 256 concurrent producers.
//
//	go test ./outbox/ -run '^$' -bench Enqueue -benchmem -benchtime 20000x
func BenchmarkEnqueue(b *testing.B) {
	for name, d := range benchDBs(b) {
		if _, err := Open(context.Background(), d, Options{}); err != nil { // migrate
			b.Fatal(err)
		}
		if _, err := d.Write.Exec(`CREATE TABLE IF NOT EXISTS bench_raw (id BIGINT, unique_id TEXT, profile_key TEXT, metric TEXT, source TEXT, payload TEXT, created_at BIGINT)`); err != nil {
			b.Fatal(err)
		}
		payload, _ := json.Marshal(benchEvent(0))
		for _, p := range []int{1, 16, 64, 256} {
			b.Run(fmt.Sprintf("%s/raw-commit-per-row/producers=%d", name, p), func(b *testing.B) {
				q := d.Rebind(`INSERT INTO bench_raw (id, unique_id, profile_key, metric, source, payload, created_at) VALUES (?,?,?,?,?,?,?)`)
				runProducers(b, p, func(i int) error {
					_, err := d.Write.Exec(q, i, NewUniqueID(), "email:x", "Placed Order", "bench", string(payload), time.Now().UnixMilli())
					return err
				})
			})
			b.Run(fmt.Sprintf("%s/outbox-group-commit/producers=%d", name, p), func(b *testing.B) {
				o, err := Open(context.Background(), d, Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer o.Close(context.Background())
				// Events are built before the clock starts, like the raw
				// baseline's payload.
				events := make([]klaviyo.Event, b.N)
				for i := range events {
					events[i] = benchEvent(i)
				}
				c0, cpu0 := o.commits.Load(), cpuTime()
				runProducers(b, p, func(i int) error {
					return o.Enqueue(context.Background(), events[i:i+1], "bench")
				})
				b.ReportMetric(float64(b.N)/float64(max(1, o.commits.Load()-c0)), "events/commit")
				// The whole process's CPU (getrusage), producers included:
				// what a server pays per stored event.
				b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/event")
			})
		}
	}
}

func benchDBs(b *testing.B) map[string]*db.DB {
	out := dbtest.Open(b)
	return out
}
