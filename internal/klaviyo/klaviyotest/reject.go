package klaviyotest

import (
	"encoding/json"
	"net/http"
)

// Rejection makes the fake refuse chosen events for good, as Klaviyo
// refuses an event it finds invalid: a 400 whose errors name each refused
// event by source.pointer (every one in a bulk request, not only the
// first), or, with NoPointer, a 400 that does not say which.
type Rejection struct {
	// Match reports whether an event is refused.
	Match func(Event) bool
	// Detail is the error's detail (default "rejected by the fake").
	Detail string
	// NoPointer leaves source.pointer out of the errors.
	NoPointer bool
}

// Reject arms r for every later request to the event endpoints; a nil
// Match disarms it.
func (s *Server) Reject(r Rejection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Match == nil {
		s.reject = nil
		return
	}
	if r.Detail == "" {
		r.Detail = "rejected by the fake"
	}
	s.reject = &r
}

// rejected is the refusal of e under ptr by the armed Rejection, or nil.
// Called with s.mu held.
func (s *Server) rejected(e Event, ptr string) *reply {
	if s.reject == nil || !s.reject.Match(e) {
		return nil
	}
	if s.reject.NoPointer {
		ptr = ""
	}
	r := s.invalid(s.reject.Detail, ptr)
	return &r
}

// errorsOf returns the error entries of an error reply.
func errorsOf(r reply) []apiError {
	var doc struct {
		Errors []apiError `json:"errors"`
	}
	json.Unmarshal(r.body, &doc)
	return doc.Errors
}

// errorsReply answers 400 with every error in errs, as Klaviyo lists each
// invalid value of a request.
func errorsReply(errs []apiError) reply {
	b, _ := json.Marshal(map[string]any{"errors": errs})
	return reply{status: http.StatusBadRequest, header: http.Header{"Content-Type": {"application/vnd.api+json"}}, body: b}
}
