package klaviyo

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

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
