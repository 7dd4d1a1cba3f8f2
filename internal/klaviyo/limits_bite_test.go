package klaviyo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// limitedClient returns a client with the given event limits against a
// server that accepts everything, and the server's request count.
func limitedClient(t *testing.T, l Limits) (*Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient("pk_limit_test_key_0001", Options{BaseURL: srv.URL, EventLimits: l, BulkLimits: Unlimited})
	if err != nil {
		t.Fatal(err)
	}
	return c, &n
}

func limitEvent(i int) Event {
	return Event{Metric: "Viewed Product", Profile: Profile{Email: "a@example.com"},
		Properties: json.RawMessage(`{}`), Time: time.Now(), UniqueID: fmt.Sprint("lim-", i)}
}

// nextDelays is how long each of the next n requests would wait on l,
// leaving l as it was.
func nextDelays(l *rate.Limiter, n int) []time.Duration {
	at := time.Now()
	var out []time.Duration
	var rs []*rate.Reservation
	for range n {
		r := l.ReserveN(at, 1)
		rs = append(rs, r)
		out = append(out, r.DelayFrom(at))
	}
	for i := len(rs) - 1; i >= 0; i-- {
		rs[i].CancelAt(at)
	}
	return out
}

// TestSteadyLimitRefillsPerMinute sends the whole steady bucket, then
// checks what the next requests would wait: with 6 requests a minute, one
// token every 10 s, so the 7th waits about 10 s and the 8th about 20 s; a
// bucket refilling per second would let them through within a second.
// The client's own path is checked too: a request whose deadline is
// shorter than that wait is refused at once, without reaching Klaviyo.
func TestSteadyLimitRefillsPerMinute(t *testing.T) {
	const steady = 6
	c, n := limitedClient(t, Limits{Burst: -1, Steady: steady})
	for i := range steady {
		if out := c.CreateEvent(context.Background(), limitEvent(i)); out.Kind != Delivered {
			t.Fatalf("request %d within the bucket: %+v", i, out)
		}
	}
	p := c.limiters[PathEvents]
	if p[0] != nil || p[1] == nil {
		t.Fatalf("limiters %v: want only the steady bucket", p)
	}
	if p[1].Burst() != steady {
		t.Errorf("steady bucket holds %d, want %d", p[1].Burst(), steady)
	}
	interval := time.Minute / steady
	for i, d := range nextDelays(p[1], 2) {
		want := time.Duration(i+1) * interval
		// Time passed since the bucket emptied only shortens the wait.
		if d > want || d < want-2*time.Second {
			t.Errorf("request %d past the bucket waits %s, want about %s (%d a minute)", i+1, d, want, steady)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), interval/2)
	defer cancel()
	out := c.CreateEvent(ctx, limitEvent(steady))
	if out.Kind != Retryable || !strings.Contains(out.Detail, "not sent") || n.Load() != steady {
		t.Errorf("request past the steady bucket with a %s deadline: %+v, server saw %d requests; want refused before sending", interval/2, out, n.Load())
	}
}

// TestBurstLimitRefillsPerSecond: the burst bucket is per second, so past
// it the wait is a fraction of a second per request.
func TestBurstLimitRefillsPerSecond(t *testing.T) {
	const burst = 4
	c, _ := limitedClient(t, Limits{Burst: burst, Steady: -1})
	for i := range burst {
		if out := c.CreateEvent(context.Background(), limitEvent(i)); out.Kind != Delivered {
			t.Fatalf("request %d within the bucket: %+v", i, out)
		}
	}
	p := c.limiters[PathEvents]
	if p[1] != nil || p[0] == nil || p[0].Burst() != burst {
		t.Fatalf("limiters %v: want only a burst bucket of %d", p, burst)
	}
	interval := time.Second / burst
	for i, d := range nextDelays(p[0], 2) {
		want := time.Duration(i+1) * interval
		if d > want || d < want-interval/2 {
			t.Errorf("request %d past the burst waits %s, want about %s", i+1, d, want)
		}
	}
}

// TestDefaultLimitsAreKlaviyos: the buckets a client starts with are
// Klaviyo's documented limits (events 350/s and 3,500/min, bulk 10/s and
// 150/min), each holding one period's requests.
func TestDefaultLimitsAreKlaviyos(t *testing.T) {
	c, err := NewClient("pk_limit_test_key_0001", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path          string
		perSec, perMi int
	}{{PathEvents, 350, 3500}, {PathBulkEvents, 10, 150}} {
		p := c.limiters[tt.path]
		if p[0] == nil || p[1] == nil {
			t.Fatalf("%s: limiters %v", tt.path, p)
		}
		if p[0].Limit() != rate.Limit(tt.perSec) || p[0].Burst() != tt.perSec {
			t.Errorf("%s burst bucket: %v/s holding %d, want %d/s holding %d", tt.path, p[0].Limit(), p[0].Burst(), tt.perSec, tt.perSec)
		}
		if got := float64(p[1].Limit()) * 60; got < float64(tt.perMi)-1e-6 || got > float64(tt.perMi)+1e-6 || p[1].Burst() != tt.perMi {
			t.Errorf("%s steady bucket: %v/min holding %d, want %d/min holding %d", tt.path, got, p[1].Burst(), tt.perMi, tt.perMi)
		}
	}
}
