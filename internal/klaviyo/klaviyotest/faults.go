package klaviyotest

import (
	"net/http"
	"time"
)

// Fault is an answer the fake gives instead of (or on top of) its normal
// one. Build them with Throttle, ThrottleNoRetryAfter, ServerError, Slow,
// Drop and DropAfterAccept, then arm them with FailNext or FailFor.
type Fault struct {
	// Status is answered instead of the normal status: 429 (with
	// Klaviyo's throttled body) or a 5xx. 0 keeps the normal answer.
	Status int
	// RetryAfter is the Retry-After header in seconds (429 only), unless
	// NoRetryAfter.
	RetryAfter   int
	NoRetryAfter bool
	// ExpectedIn is N in the 429 detail "Expected available in N
	// seconds"; 0 leaves the hint out.
	ExpectedIn int
	// Delay holds the answer back this long, or until the client gives
	// up. The request is processed (recorded) either way, like a slow
	// Klaviyo that accepted the request but answered too late.
	Delay time.Duration
	// Drop closes the connection without answering.
	Drop bool
	// AfterAccept processes and records the request before the fault
	// answers (the response is lost, the events are not).
	AfterAccept bool
	// Path limits the fault to one endpoint path; "" means every path.
	Path string
}

// Throttle answers 429 with Retry-After and the "Expected available in N
// seconds" detail, both set to seconds.
func Throttle(seconds int) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: seconds, ExpectedIn: seconds}
}

// ThrottleNoRetryAfter answers 429 without a Retry-After header; the detail
// says "Expected available in N seconds" when expectedIn > 0 and carries
// no hint at all otherwise.
func ThrottleNoRetryAfter(expectedIn int) Fault {
	return Fault{Status: http.StatusTooManyRequests, NoRetryAfter: true, ExpectedIn: expectedIn}
}

// ServerError answers status (500, 502, 503, 504, 524...) without
// processing the request.
func ServerError(status int) Fault { return Fault{Status: status} }

// Slow processes the request but answers only after d (or when the client
// hangs up), to exercise client timeouts.
func Slow(d time.Duration) Fault { return Fault{Delay: d} }

// Drop closes the connection before processing the request.
func Drop() Fault { return Fault{Drop: true} }

// DropAfterAccept records the request, then closes the connection without
// answering: the client cannot know its events arrived.
func DropAfterAccept() Fault { return Fault{Drop: true, AfterAccept: true} }

// OnPath returns f limited to one endpoint path.
func (f Fault) OnPath(path string) Fault { f.Path = path; return f }

func (f Fault) name() string {
	switch {
	case f.Drop && f.AfterAccept:
		return "drop-after-accept"
	case f.Drop:
		return "drop"
	case f.Status == 429 && f.NoRetryAfter:
		return "throttle-no-retry-after"
	case f.Status == 429:
		return "throttle"
	case f.Status != 0:
		return "status-" + http.StatusText(f.Status)
	}
	return "slow"
}

type faultRule struct {
	f         Fault
	remaining int       // requests left; -1 when time-bound
	until     time.Time // for time-bound rules
}

// FailNext makes the next n requests (to f.Path, or any) answer with f.
// Rules queue: a later FailNext applies after the earlier ones are used up.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{f: f, remaining: n})
}

// FailFor makes every request (to f.Path, or any) answer with f for d, on
// the fake's clock (see SetClock).
func (s *Server) FailFor(d time.Duration, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{f: f, remaining: -1, until: s.now().Add(d)})
}

// ClearFaults removes every armed fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the fault for a request to path, consuming one use.
// Called with s.mu held.
func (s *Server) takeFault(path string) *Fault {
	now := s.now()
	kept := s.faults[:0]
	var hit *Fault
	for _, r := range s.faults {
		expired := (r.remaining == 0) || (r.remaining < 0 && !now.Before(r.until))
		if expired {
			continue
		}
		if hit == nil && (r.f.Path == "" || r.f.Path == path) {
			f := r.f
			hit = &f
			if r.remaining > 0 {
				r.remaining--
				if r.remaining == 0 {
					continue
				}
			}
		}
		kept = append(kept, r)
	}
	s.faults = kept
	return hit
}

// faultReply builds the answer for an injected fault.
func (s *Server) faultReply(f Fault, r *http.Request, body []byte, pre parsed, idx int, st *Stats) (reply, time.Duration, bool) {
	name := f.name()
	var normal reply
	if f.AfterAccept || (f.Status == 0 && !f.Drop) {
		normal = s.serve(r, body, pre, idx, st)
	}
	switch {
	case f.Drop:
		return reply{drop: true, fault: name, commit: normal.commit}, f.Delay, f.AfterAccept
	case f.Status == http.StatusTooManyRequests:
		rep := s.throttled(f.RetryAfter, !f.NoRetryAfter, f.ExpectedIn)
		rep.fault, rep.commit = name, normal.commit
		return rep, f.Delay, f.AfterAccept
	case f.Status != 0:
		rep := s.errReply(f.Status, "error", http.StatusText(f.Status)+".", "A server error occurred.", "", "")
		rep.fault, rep.commit = name, normal.commit
		return rep, f.Delay, f.AfterAccept
	}
	normal.fault = name
	return normal, f.Delay, true
}
