package klaviyotest

import "time"

// SetStrictLimits makes the rate limiter count as strictly as Klaviyo may:
// a request is throttled when Burst requests already arrived in the last
// second, or Steady in the last minute (a sliding window over arrivals),
// instead of by token buckets that refill at a steady rate. A client that
// shapes with a bucket of Steady tokens passes the default limiter and
// fails this one.
func (s *Server) SetStrictLimits(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strict = on
	s.arrivals = map[string][]time.Time{}
}

// strictLimit admits a request to key if the sliding windows allow it,
// recording its arrival, or returns how long until they would. Called with
// s.mu held.
func (s *Server) strictLimit(key string) time.Duration {
	l := s.limits[key]
	now := s.now()
	log := s.arrivals[key]
	i := 0
	for i < len(log) && now.Sub(log[i]) >= time.Minute {
		i++
	}
	log = log[i:]
	s.arrivals[key] = log
	var wait time.Duration
	check := func(n int, span time.Duration) {
		if n <= 0 {
			return
		}
		inSpan := 0
		for j := len(log) - 1; j >= 0 && now.Sub(log[j]) < span; j-- {
			inSpan++
		}
		if inSpan >= n {
			// The oldest arrival that must leave the span first.
			if d := log[len(log)-inSpan].Add(span).Sub(now); d > wait {
				wait = d
			}
		}
	}
	check(l.Burst, time.Second)
	check(l.Steady, time.Minute)
	if wait == 0 {
		s.arrivals[key] = append(log, now)
	}
	return wait
}
