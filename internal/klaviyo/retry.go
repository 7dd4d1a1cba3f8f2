package klaviyo

import (
	"context"
	"net/http"
	"strconv"
	"strings"
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

// retryAfter parses Retry-After: delta seconds or an HTTP date, capped at
// MaxRetryAfter. A date in the past is no wait.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if d, ok := secondsWait(v); ok {
		return d, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}

// secondsWait reads a count of seconds (digits only, as Retry-After and
// Klaviyo's "Expected available in N seconds" write it) as a wait capped
// at MaxRetryAfter. A number too large for an int or a Duration is the
// cap: multiplying it would overflow into a negative or tiny wait.
func secondsWait(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n >= uint64(MaxRetryAfter/time.Second) {
		return MaxRetryAfter, true
	}
	return time.Duration(n) * time.Second, true
}
