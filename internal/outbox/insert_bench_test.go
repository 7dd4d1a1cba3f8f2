package outbox

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
)

// BenchmarkInsert measures the commit loop's storage step alone: one
// transaction of n rows through o.insert (the prepared multi-row INSERTs,
// BEGIN and the durable COMMIT), for the batch sizes a group commit sees
// (1 alone, ~19 under the proxy's wrk load, 64, 500). An op is one row;
// cpu-ns/row is the whole process's user+system CPU (getrusage) per row,
// which counts SQLite's page writes and the fsync's kernel time that a
// wall-clock or pprof-only view of one goroutine misses.
//
//	go test ./outbox/ -run '^$' -bench 'Insert/sqlite' -benchtime 20000x
func BenchmarkInsert(b *testing.B) {
	for name, d := range benchDBs(b) {
		o, err := Open(context.Background(), d, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { o.Close(context.Background()) })
		for _, n := range []int{1, 19, 64, 500} {
			b.Run(fmt.Sprintf("%s/rows=%d", name, n), func(b *testing.B) {
				rows := make([]row, n)
				for i := range rows {
					e := benchEvent(i)
					e.UniqueID = NewUniqueID()
					enc, err := klaviyo.Encode(e, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					rows[i] = row{uniqueID: e.UniqueID, profileKey: e.Profile.Key(), metric: e.Metric, source: "bench", enc: enc, createdAt: time.Now().UnixMilli()}
				}
				ctx := context.Background()
				if err := o.insert(ctx, rows); err != nil { // prepare outside the clock
					b.Fatal(err)
				}
				b.ResetTimer()
				c0 := cpuTime()
				for done := 0; done < b.N; done += n {
					if err := o.insert(ctx, rows[:min(n, b.N-done)]); err != nil {
						b.Fatal(err)
					}
				}
				cpu := cpuTime() - c0
				b.StopTimer()
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/row")
			})
		}
	}
}
