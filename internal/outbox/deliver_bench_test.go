package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/localsink"
)

// BenchmarkDeliveryBacklog delivers a 100,000-event backlog from a SQLite
// outbox through the real Klaviyo client to the fake Klaviyo enforcing
// Klaviyo's limits (bulk: burst 10/s, steady 150/min = 2,500 events/s).
// Both token buckets (the client's and the fake's) are drained first with
// 200 one-event bulk requests, so the figure is the sustained rate, not the
// first minute's burst allowance. Beside it, in the same run and state: the
// baseline of the bare client sending prebuilt 1,000-event requests in a
// loop from three goroutines, with no outbox. Both phases also report the
// process's CPU time per 1,000 events (cpu-ms/1k-events): on a loaded
// machine that decides the rate. It takes about 90 s.
//
//	go test ./outbox/ -run '^$' -bench DeliveryBacklog -benchtime 1x -v
func BenchmarkDeliveryBacklog(b *testing.B) {
	const backlog = 100_000
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range b.N {
		fake := klaviyotest.NewServer(b)
		client, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		d, err := db.OpenSQLite(ctx, filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		o, err := Open(ctx, d, Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close(context.Background())
		for i := 0; i < backlog; i += 1000 {
			batch := make([]klaviyo.Event, 1000)
			for j := range batch {
				batch[j] = benchEvent(i + j)
			}
			if err := o.Enqueue(ctx, batch, "bench"); err != nil {
				b.Fatal(err)
			}
		}

		// Drain the burst allowance of both buckets.
		t0 := time.Now()
		for i := range 200 {
			e := benchEvent(i)
			e.Metric, e.UniqueID = "Warm-up", fmt.Sprint("warm-", i)
			if out := client.BulkCreateEvents(ctx, []klaviyo.Encoded{mustEncode(b, e)}); out.Kind == klaviyo.Permanent {
				b.Fatalf("warm-up request %d: %+v", i, out)
			}
		}
		b.Logf("drained the burst allowance in %s", time.Since(t0).Round(time.Millisecond))

		// Baseline: the bare client, prebuilt full requests, no outbox.
		const baseReqs = 40
		batches := make([][]klaviyo.Encoded, baseReqs)
		for r := range batches {
			for j := range 1000 {
				e := benchEvent(j)
				e.Metric, e.UniqueID = "Baseline", fmt.Sprint("base-", r, "-", j)
				batches[r] = append(batches[r], mustEncode(b, e))
			}
		}
		before := fake.StatsFor(klaviyotest.PathBulkEvents)
		t0 = time.Now()
		c0 := cpuTime()
		// Three senders, like the loop's BulkConcurrency.
		next := make(chan []klaviyo.Encoded, len(batches))
		for _, batch := range batches {
			next <- batch
		}
		close(next)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				for batch := range next {
					for {
						out := client.BulkCreateEvents(ctx, batch)
						if out.Kind == klaviyo.Delivered {
							break
						}
						if out.Kind == klaviyo.Permanent {
							b.Errorf("baseline request: %+v", out)
							return
						}
						time.Sleep(out.RetryAfter)
					}
				}
			})
		}
		wg.Wait()
		baseRate := float64(baseReqs*1000) / time.Since(t0).Seconds()
		baseCPU := cpuTime() - c0
		afterBase := fake.StatsFor(klaviyotest.PathBulkEvents)

		// The outbox: deliver the whole backlog.
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		b.ResetTimer()
		t0 = time.Now()
		c0 = cpuTime()
		go func() { o.Run(rctx, client); close(done) }()
		// Poll the fake (cheap), not the queue: counting 100,000 rows
		// would steal CPU from the loop being measured.
		for fake.StatsFor(klaviyotest.PathBulkEvents).Events-afterBase.Events < backlog {
			time.Sleep(50 * time.Millisecond)
		}
		elapsed := time.Since(t0)
		runCPU := cpuTime() - c0
		b.StopTimer()
		stop()
		<-done
		after := fake.StatsFor(klaviyotest.PathBulkEvents)
		reqs := after.Requests - afterBase.Requests
		throttled := after.Throttled - afterBase.Throttled
		rate := backlog / elapsed.Seconds()
		got := 0
		for _, e := range fake.Events() {
			if e.Metric == "Placed Order" {
				got++
			}
		}
		if got != backlog {
			b.Errorf("fake kept %d events, want %d", got, backlog)
		}
		b.ReportMetric(rate, "events/s")
		b.ReportMetric(rate/2500*100, "%-of-2500/s")
		b.ReportMetric(baseRate, "baseline-events/s")
		b.ReportMetric(float64(throttled)/float64(max(reqs, 1))*100, "%-429")
		b.ReportMetric(float64(backlog)/float64(max(reqs, 1)), "events/request")
		// CPU per 1,000 events delivered, of the whole process (client,
		// fake and outbox): what decides the rate on a loaded machine.
		b.ReportMetric(runCPU.Seconds()*1000/(backlog/1000), "cpu-ms/1k-events")
		b.ReportMetric(baseCPU.Seconds()*1000/baseReqs, "baseline-cpu-ms/1k-events")
		b.ReportMetric(0, "ns/op")
		b.Logf("outbox: %d events in %s = %.0f/s (%.1f%% of 2,500/s) in %d requests, %d throttled; baseline bare client %.0f/s (%d requests, %d throttled)",
			backlog, elapsed.Round(time.Millisecond), rate, rate/25, reqs, throttled, baseRate, afterBase.Requests-before.Requests, afterBase.Throttled-before.Throttled)
	}
}

// mustEncode is e checked and encoded, as Enqueue stores it.
func mustEncode(b *testing.B, e klaviyo.Event) klaviyo.Encoded {
	enc, err := klaviyo.Encode(e, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return enc
}

// proxyEvent is an event as the proxy stores it under the load test
// (scripts/bench-proxy.sh): Viewed Product for one exchange id, properties
// built by the snippets builders, the time of arrival, a unique id.
func proxyEvent(i int) klaviyo.Event {
	return klaviyo.Event{
		Metric:     "Viewed Product",
		Profile:    klaviyo.Profile{Kx: "BenchShopper01.ABC123"},
		Properties: json.RawMessage(`{"ProductName":"Mug","ProductID":"p1","SKU":"M-1","Categories":[],"ImageURL":"","URL":"https://shop.example/p/mug","Brand":"","Price":12.5,"CompareAtPrice":0}`),
		Time:       time.Unix(1790000000, int64(i%1000)*1e6).UTC(),
		UniqueID:   fmt.Sprint("b1-", i),
	}
}

// BenchmarkDeliverLocal delivers a backlog of b.N events from the outbox to
// the local sink (what snippetd does without a private key, and what the
// proxy load test runs), and reports the process's CPU time per delivered
// event (cpu-ns/event) and allocations per event: the delivery loop's cost
// (read, frame, bookkeeping), without HTTP or rate limits.
//
//	go test ./outbox/ -run '^$' -bench DeliverLocal -benchmem -benchtime 40000x
func BenchmarkDeliverLocal(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, d := range dbtest.Open(b) {
		for _, kind := range []string{"proxy", "order"} {
			b.Run(name+"/"+kind, func(b *testing.B) {
				ctx := context.Background()
				o, err := Open(ctx, d, Options{Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				defer o.Close(context.Background())
				if _, err := d.Write.Exec(`DELETE FROM outbox_events`); err != nil {
					b.Fatal(err)
				}
				for i := 0; i < b.N; i += 1000 {
					batch := make([]klaviyo.Event, min(1000, b.N-i))
					for j := range batch {
						if kind == "proxy" {
							batch[j] = proxyEvent(i + j)
						} else {
							batch[j] = benchEvent(i + j)
							batch[j].UniqueID = fmt.Sprint("o-", i+j)
						}
					}
					if err := o.Enqueue(ctx, batch, "bench"); err != nil {
						b.Fatal(err)
					}
				}
				sink := localsink.New(0)
				rctx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				b.ReportAllocs()
				b.ResetTimer()
				c0 := cpuTime()
				go func() { o.Run(rctx, sink); close(done) }()
				for o.delivered.Load() < int64(b.N) {
					time.Sleep(2 * time.Millisecond)
				}
				cpu := cpuTime() - c0
				b.StopTimer()
				stop()
				<-done
				if o.dead.Load() != 0 {
					b.Fatalf("%d dead letters", o.dead.Load())
				}
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
			})
		}
	}
}

// BenchmarkRecordDelivered measures record marking one bulk request's
// 1,000 rows delivered (consecutive ids, as a request of the window
// usually holds): the process's CPU time per event (ns/op includes the
// commit's wait for the disk). The rows are put back to pending between
// operations with the timer stopped.
//
//	go test ./outbox/ -run '^$' -bench RecordDelivered -benchmem
func BenchmarkRecordDelivered(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, d := range dbtest.Open(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			o, err := Open(ctx, d, Options{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close(context.Background())
			batch := make([]klaviyo.Event, 1000)
			for i := range batch {
				batch[i] = proxyEvent(i)
			}
			// Rows after them, as under load.
			for range 3 {
				if err := o.Enqueue(ctx, batch, "bench"); err != nil {
					b.Fatal(err)
				}
				for i := range batch {
					batch[i].UniqueID = ""
				}
			}
			rows, err := o.loadPending(ctx, 1000)
			if err != nil {
				b.Fatal(err)
			}
			results := make([]result, len(rows))
			for i, r := range rows {
				results[i] = result{id: r.id, state: StateDelivered}
			}
			b.ReportAllocs()
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				if _, err := d.Write.Exec(`UPDATE outbox_events SET state = 'pending'`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				c0 := cpuTime()
				if err := o.record(ctx, results); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(results)), "cpu-ns/event")
		})
	}
}
