package klaviyo

import (
	"context"
	"sync"
	"time"
)

// window admits at most n requests in any span of time, as Klaviyo counts
// its burst (per second) and steady (per minute) limits: by the requests
// that arrived in the last second or minute, not by a bucket that refills
// at a rate (a bucket of 150 per minute lets 150 go at once and 150 more
// over the next minute, twice the limit in one minute). Klaviyo counts a
// request when it arrives, which is at the latest when its answer comes
// back: so a request holds its place from when it starts until span after
// it ends, and no two requests that Klaviyo could count in one span are
// more than n.
type window struct {
	n    int
	span time.Duration

	mu       sync.Mutex
	ended    []time.Time // end times within the last span, oldest first
	inFlight int
	changed  chan struct{}
}

func newWindow(n int, span time.Duration) *window {
	return &window{n: n, span: span, changed: make(chan struct{})}
}

// acquire waits for a place and returns the function that gives it back
// when the request has ended (answered or failed).
func (w *window) acquire(ctx context.Context) (func(), error) {
	for {
		w.mu.Lock()
		now := time.Now()
		i := 0
		for i < len(w.ended) && now.Sub(w.ended[i]) >= w.span {
			i++
		}
		w.ended = w.ended[i:]
		if len(w.ended)+w.inFlight < w.n {
			w.inFlight++
			w.mu.Unlock()
			return w.release, nil
		}
		ch := w.changed
		var timer <-chan time.Time
		if len(w.ended) > 0 {
			t := time.NewTimer(w.ended[0].Add(w.span).Sub(now))
			defer t.Stop()
			timer = t.C
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		case <-timer:
		}
	}
}

func (w *window) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inFlight--
	w.ended = append(w.ended, time.Now())
	close(w.changed)
	w.changed = make(chan struct{})
}
