package klaviyo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// TestOnLimitWaitReportsTokenBucketWaits: a request held back by the
// client's own token bucket is reported (for the rate-limit metrics);
// requests within the burst are not.
func TestOnLimitWaitReportsTokenBucketWaits(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	var mu sync.Mutex
	var waits []string
	var total time.Duration
	c := newClient(t, fake, klaviyo.Options{
		EventBuckets: klaviyo.Buckets{Burst: 2, Steady: -1},
		OnLimitWait: func(path string, d time.Duration) {
			mu.Lock()
			waits = append(waits, path)
			total += d
			mu.Unlock()
		},
	})
	for i := range 3 {
		e := klaviyo.Event{Metric: "Viewed Product", Profile: klaviyo.Profile{Email: "a@example.com"},
			Properties: json.RawMessage(`{}`), Time: now, UniqueID: fmt.Sprint("w", i)}
		if out := c.CreateEvent(context.Background(), encoded(t, e)); out.Kind != klaviyo.Delivered {
			t.Fatalf("request %d: %+v", i, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 1 || waits[0] != klaviyo.PathEvents || total < 100*time.Millisecond {
		t.Errorf("waits %v totalling %s; want one wait on %s (the third request, beyond the burst of 2/s)", waits, total, klaviyo.PathEvents)
	}
}
