package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
)

// BenchmarkEvents measures POST {prefix}e end to end in process: a
// one-event batch from a shopper with an exchange id, through validation,
// identity and the real SQLite outbox (group commit, synchronous=FULL).
// Baseline in the same run: BenchmarkEventsNoStore, the same request with
// an outbox that stores nothing, so the difference is the durable write.
//
//	go test ./proxy -run '^$' -bench 'BenchmarkEvents' -benchmem -cpu 2
func BenchmarkEvents(b *testing.B) {
	d := openTestDBs(b)["sqlite"]
	ob, err := outbox.Open(context.Background(), d, outbox.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close(context.Background())
	benchEvents(b, EnqueueFunc(func(ctx context.Context, ev []klaviyo.Event) error { return ob.Enqueue(ctx, ev, "proxy") }), false)
}

// BenchmarkEventsReturningBrowser is BenchmarkEvents with every request
// from a browser the proxy already knows (a stable sd_bid cookie), so no
// identity is written behind: the difference to BenchmarkEvents is the
// identity store's share of the durable path (wrk sends no cookies, so in
// the load test every request is a new browser).
func BenchmarkEventsReturningBrowser(b *testing.B) {
	d := openTestDBs(b)["sqlite"]
	ob, err := outbox.Open(context.Background(), d, outbox.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close(context.Background())
	benchEvents(b, EnqueueFunc(func(ctx context.Context, ev []klaviyo.Event) error { return ob.Enqueue(ctx, ev, "proxy") }), true)
}

// BenchmarkEventsInputForm is BenchmarkEventsReturningBrowser with the
// event as the helper's proxy build sends it: the product, from which the
// proxy builds the properties.
func BenchmarkEventsInputForm(b *testing.B) {
	d := openTestDBs(b)["sqlite"]
	ob, err := outbox.Open(context.Background(), d, outbox.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close(context.Background())
	benchEventsForm(b, EnqueueFunc(func(ctx context.Context, ev []klaviyo.Event) error { return ob.Enqueue(ctx, ev, "proxy") }), true, inputBody)
}

// BenchmarkEventsNoStore is BenchmarkEvents' baseline: everything but the
// outbox write.
func BenchmarkEventsNoStore(b *testing.B) {
	benchEvents(b, EnqueueFunc(func(ctx context.Context, ev []klaviyo.Event) error { return nil }), false)
}

// BenchmarkEventsInputFormNoStore is the request of the whole-server load
// test (scripts/bench-proxy.sh): the helper's input form from a browser
// seen for the first time (wrk keeps no cookies), with an outbox that
// stores nothing, so what remains is the router's and handler's work.
func BenchmarkEventsInputFormNoStore(b *testing.B) {
	benchEventsForm(b, EnqueueFunc(func(ctx context.Context, ev []klaviyo.Event) error { return nil }), false, inputBody)
}

func propertiesBody(n int64) string {
	return fmt.Sprintf(`{"events":[{"metric":"Viewed Product","properties":{"ProductName":"Mug","ProductID":"p1","Price":12.5},"unique_id":"b-%d"}]}`, n)
}

func inputBody(n int64) string {
	return fmt.Sprintf(`{"events":[{"metric":"Viewed Product","unique_id":"b-%d","product":{"id":"p1","sku":"M-1","name":"Mug","url":"https://shop.example/p/mug","price":12.5}}],"profile":{}}`, n)
}

func benchEvents(b *testing.B, out Enqueuer, returning bool) {
	benchEventsForm(b, out, returning, propertiesBody)
}

func benchEventsForm(b *testing.B, out Enqueuer, returning bool, bodyOf func(int64) string) {
	d := openTestDBs(b)["sqlite"]
	store, err := OpenStore(context.Background(), d, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	p := New(Options{AllowedOrigins: []string{shopOrigin}, Rate: 1e9, Burst: 1 << 30}, store, out, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s := router(p)
	kla := kxCookie("BenchShopper01.ABC123")
	bid := &http.Cookie{Name: BrowserCookie, Value: newBrowserID()}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodyOf(n.Add(1))
			r := httptest.NewRequest("POST", "/s/e", strings.NewReader(body))
			r.RemoteAddr = "203.0.113.7:1"
			r.Header.Set("Origin", shopOrigin)
			r.Header.Set("Content-Type", "text/plain")
			r.AddCookie(kla)
			if returning {
				r.AddCookie(bid)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != http.StatusAccepted {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDecodeBatch is the validator alone on the load test's body
// (input form) and on the properties form: single-threaded, so the
// allocations and CPU per event are the decoder's own.
func BenchmarkDecodeBatch(b *testing.B) {
	v := NewValidator(nil, EventLimits{})
	now := time.Now()
	for _, form := range []struct {
		name string
		body func(int64) string
	}{{"input", inputBody}, {"properties", propertiesBody}} {
		b.Run(form.name, func(b *testing.B) {
			body := []byte(form.body(1))
			b.ReportAllocs()
			start, n := cpuTime(), 0
			for b.Loop() {
				if _, err := v.DecodeBatch(body, now); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
		})
	}
}

// BenchmarkHandleEvents is the load test's request (BenchmarkEventsInputFormNoStore's)
// through handleEvents alone, one request at a time: no router, the
// request built once and its body reset per call, a ResponseWriter that
// keeps nothing. Its cpu-ns/op is the handler's own CPU per event with
// little else (the outbox stores nothing), steadier than the parallel
// benchmarks' on a shared machine.
//
//	go test ./proxy -run '^$' -bench 'BenchmarkHandleEvents' -benchmem -cpu 1 -count 6
func BenchmarkHandleEvents(b *testing.B) {
	p := handlerBenchProxy(b)
	body := []byte(inputBody(1))
	r := httptest.NewRequest("POST", "/s/e", nil)
	r.RemoteAddr = "203.0.113.7:1"
	r.Header.Set("Origin", shopOrigin)
	r.Header.Set("Content-Type", "text/plain")
	r.AddCookie(kxCookie("BenchShopper01.ABC123"))
	r.ContentLength = int64(len(body))
	w := &nopWriter{h: http.Header{}}
	rd := bytes.NewReader(body)
	b.ReportAllocs()
	start, n := cpuTime(), 0
	for b.Loop() {
		rd.Reset(body)
		r.Body = io.NopCloser(rd)
		clear(w.h)
		w.code = 0
		p.handleEvents(w, r)
		if w.code != http.StatusAccepted {
			b.Fatalf("status %d", w.code)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
}

// handlerBenchProxy is the proxy of the single-request handler benchmarks:
// the load test's origin, no effective rate limit, an outbox that stores
// nothing.
func handlerBenchProxy(b *testing.B) *Proxy {
	d := openTestDBs(b)["sqlite"]
	store, err := OpenStore(context.Background(), d, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return New(Options{AllowedOrigins: []string{shopOrigin}, Rate: 1e9, Burst: 1 << 30}, store,
		EnqueueFunc(func(ctx context.Context, ev []klaviyo.Event) error { return nil }), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// nopWriter is a ResponseWriter that keeps only the header map and the
// status.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
