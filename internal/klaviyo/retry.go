package klaviyo

import (
	"context"
	"time"
)

// Retrier is a Sender that retries Retryable outcomes of another Sender,
// waiting each outcome's RetryAfter in between, for callers that send
// synchronously (the orders API before the outbox, the backfill command).
// The outbox does not use it: it keeps retries durable instead.
type Retrier struct {
	Sender Sender
	// MaxAttempts bounds the tries per call (default 8).
	MaxAttempts int
	// Sleep waits d or until ctx ends; tests inject a recorder so that no
	// test waits on the wall clock (default: a timer).
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxWait, if set, gives up (returning the Retryable outcome) rather
	// than wait longer than this, for callers holding a request open.
	MaxWait time.Duration
	// OnRetry, if set, is told about each retryable outcome before the wait.
	OnRetry func(attempt int, out Outcome)
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CreateEvent sends e, retrying as configured.
func (r Retrier) CreateEvent(ctx context.Context, e Event) Outcome {
	return r.do(ctx, func() Outcome { return r.Sender.CreateEvent(ctx, e) })
}

// BulkCreateEvents sends events, retrying as configured.
func (r Retrier) BulkCreateEvents(ctx context.Context, events []Event) Outcome {
	return r.do(ctx, func() Outcome { return r.Sender.BulkCreateEvents(ctx, events) })
}

func (r Retrier) do(ctx context.Context, send func() Outcome) Outcome {
	max := r.MaxAttempts
	if max <= 0 {
		max = 8
	}
	sleep := r.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	var out Outcome
	for attempt := 1; ; attempt++ {
		out = send()
		if out.Kind != Retryable || attempt >= max || (r.MaxWait > 0 && out.RetryAfter > r.MaxWait) {
			return out
		}
		if r.OnRetry != nil {
			r.OnRetry(attempt, out)
		}
		if err := sleep(ctx, out.RetryAfter); err != nil {
			return out
		}
	}
}
