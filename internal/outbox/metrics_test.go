package outbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// recordingMetrics counts the Deliveries hook calls.
type recordingMetrics struct {
	mu        sync.Mutex
	requests  map[string]int // "endpoint outcome status" -> requests
	events    map[string]int // "endpoint outcome" -> events
	dead      int
	waits     int
	waitTotal time.Duration
}

func (m *recordingMetrics) ObserveDelivery(endpoint, outcome string, status, events int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[fmt.Sprint(endpoint, " ", outcome, " ", status)]++
	m.events[endpoint+" "+outcome] += events
}

func (m *recordingMetrics) ObserveDeadLetters(n int) {
	m.mu.Lock()
	m.dead += n
	m.mu.Unlock()
}

func (m *recordingMetrics) ObserveRateLimitWait(d time.Duration) {
	m.mu.Lock()
	m.waits++
	m.waitTotal += d
	m.mu.Unlock()
}

func TestDeliveryLoopFeedsMetrics(t *testing.T) {
	d := dbtest.SQLite(t)
	m := &recordingMetrics{requests: map[string]int{}, events: map[string]int{}}
	opts := testOptions()
	opts.Metrics = m
	o := openOutbox(t, d, opts)
	var throttled atomic.Bool
	s := &fakeSender{fn: func(events []klaviyo.Event, bulk bool) klaviyo.Outcome {
		if !throttled.Swap(true) {
			return klaviyo.Outcome{Kind: klaviyo.Retryable, Status: 429, RetryAfter: 20 * time.Millisecond}
		}
		if events[0].UniqueID == "bad" {
			return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 400, Detail: "bad event"}
		}
		return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
	}}
	bad := ev("b", 1)
	bad.UniqueID = "bad"
	if err := o.Enqueue(context.Background(), []klaviyo.Event{ev("a", 1)}, "test"); err != nil {
		t.Fatal(err)
	}
	run(t, o, s)
	waitFor(t, "first delivery", func() bool { return status(t, o).Delivered == 1 })
	if err := o.Enqueue(context.Background(), []klaviyo.Event{bad}, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dead letter", func() bool { return status(t, o).Dead == 1 })

	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]int{"single retryable 429": 1, "single delivered 202": 1, "single permanent 400": 1}
	if diff := cmp.Diff(want, m.requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if m.dead != 1 || m.waits != 1 || m.waitTotal < 20*time.Millisecond {
		t.Errorf("dead letters %d, 429 waits %d (%s); want 1, 1 (≥ 20ms)", m.dead, m.waits, m.waitTotal)
	}
}
