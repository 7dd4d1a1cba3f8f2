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

// TestLimitsShapeToKlaviyosWindows sends as fast as the client lets it to
// a fake that counts its limits in sliding windows (Klaviyo's strictest
// reading of "5/s, 20/min"): the client never gets a 429. A refilling
// token bucket sends its 20 at once and the 21st a few seconds later,
// inside the same minute.
func TestLimitsShapeToKlaviyosWindows(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	fake.SetStrictLimits(true)
	fake.SetLimits(klaviyotest.PathEvents, klaviyotest.Limits{Burst: 5, Steady: 20})
	c := newClient(t, fake, klaviyo.Options{EventBuckets: klaviyo.Buckets{Burst: 5, Steady: 20}})
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	kinds := map[string]int{}
	for g := range 4 {
		wg.Go(func() {
			for i := range 7 {
				e := klaviyo.Event{Metric: "Viewed Product", Profile: klaviyo.Profile{Email: "a@example.com"},
					Properties: json.RawMessage(`{}`), Time: now, UniqueID: fmt.Sprint("s", g, "-", i)}
				out := c.CreateEvent(ctx, encoded(t, e))
				mu.Lock()
				kinds[fmt.Sprint(out.Kind, " ", out.Status)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st := fake.StatsFor(klaviyotest.PathEvents)
	t.Logf("outcomes %v; fake: %d accepted, %d throttled", kinds, st.Accepted, st.Throttled)
	if st.Throttled != 0 {
		t.Errorf("%d requests throttled by Klaviyo's windows", st.Throttled)
	}
	if st.Accepted != 20 {
		t.Errorf("%d requests accepted in the first minute; want the limit, 20", st.Accepted)
	}
}
