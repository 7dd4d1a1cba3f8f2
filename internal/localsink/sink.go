// Package localsink is the Klaviyo stand-in snippetd delivers to when no
// private key is configured: a klaviyo.Sender that frames each request as
// the Klaviyo client does, the exact JSON:API body the client would POST,
// keeps the latest requests in memory for the inspector, and
// answers Delivered (202). Nothing leaves the machine, so a new user can run
// snippetd, click through the demo shop and see every request that would
// have reached Klaviyo.
//
// It imports klaviyo and nothing else of snippetd.
package localsink

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
)

// Klaviyo's endpoints, as the recorded requests name them.
const (
	PathEvents     = "/api/events"
	PathBulkEvents = "/api/event-bulk-create-jobs"
)

// DefaultKeep is how many requests a Sink remembers when New is given 0.
const DefaultKeep = 1000

// MaxBytes caps what a Sink's remembered requests hold (bodies and unique
// ids): a thousand bulk requests of a thousand events each would
// otherwise pin about a gigabyte while the outbox drains a backlog. The
// newest request is always kept.
const MaxBytes = 32 << 20

// Request is one request the sink took instead of Klaviyo.
type Request struct {
	// Seq numbers requests from 1 in arrival order.
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
	// Method and Path are what the Klaviyo client would have used.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Body is the JSON:API document, byte for byte what would have been
	// sent.
	Body json.RawMessage `json:"body"`
	// UniqueIDs are the unique_id of each event in the request.
	UniqueIDs []string `json:"unique_ids"`
	// Status is the answer the sink gave: 202, or 400 for an event the
	// client would have refused to send.
	Status int `json:"status"`
	// Detail is the reason of a refusal.
	Detail string `json:"detail,omitempty"`
}

// Sink records requests instead of sending them. It is safe for concurrent
// use; the zero value is not: use New.
type Sink struct {
	mu       sync.Mutex
	keep     int
	maxBytes int64
	seq      int64
	reqs     []Request // oldest first, at most keep, holding at most maxBytes
	bytes    int64     // what reqs hold (see size)
	byID     map[string]int64
	now      func() time.Time
}

// size is what a remembered request holds, roughly: its body, its unique
// ids with their index entries, and the struct.
func size(r *Request) int64 {
	n := int64(len(r.Body)) + 128
	for _, id := range r.UniqueIDs {
		n += int64(len(id)) + 48
	}
	return n
}

// New returns a Sink that remembers the latest keep requests (0:
// DefaultKeep).
func New(keep int) *Sink {
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &Sink{keep: keep, maxBytes: MaxBytes, byID: map[string]int64{}, now: time.Now}
}

// CreateEvent records POST /api/events for e and answers Delivered.
func (s *Sink) CreateEvent(ctx context.Context, e klaviyo.Encoded) klaviyo.Outcome {
	return s.record(PathEvents, e.Body(), []klaviyo.Encoded{e}, 202, "")
}

// BulkCreateEvents records POST /api/event-bulk-create-jobs for events and
// answers Delivered, or Permanent when the batch breaks Klaviyo's limits
// on a request (as the Klaviyo client refuses to send it).
func (s *Sink) BulkCreateEvents(ctx context.Context, events []klaviyo.Encoded) klaviyo.Outcome {
	body, err := klaviyo.BulkRequest(events)
	if err != nil {
		return s.record(PathBulkEvents, nil, events, 400, "not sent: "+err.Error())
	}
	return s.record(PathBulkEvents, body, events, 202, "")
}

func (s *Sink) record(path string, body []byte, events []klaviyo.Encoded, status int, detail string) klaviyo.Outcome {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.UniqueID
	}
	s.mu.Lock()
	s.seq++
	r := Request{Seq: s.seq, At: s.now().UTC(), Method: "POST", Path: path, Body: body, UniqueIDs: ids, Status: status, Detail: detail}
	s.reqs = append(s.reqs, r)
	s.bytes += size(&r)
	for _, id := range ids {
		s.byID[id] = r.Seq
	}
	for len(s.reqs) > 1 && (len(s.reqs) > s.keep || s.bytes > s.maxBytes) {
		old := &s.reqs[0]
		for _, id := range old.UniqueIDs {
			if s.byID[id] == old.Seq {
				delete(s.byID, id)
			}
		}
		s.bytes -= size(old)
		*old = Request{}
		// Re-slicing drops the oldest in O(1); append copies only the
		// live requests when it next grows the array.
		s.reqs = s.reqs[1:]
	}
	s.mu.Unlock()
	if status != 202 {
		return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: status, Detail: detail}
	}
	return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: status}
}

// Requests returns the remembered requests, newest first.
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		out[len(s.reqs)-1-i] = r
	}
	return out
}

// Len returns how many requests the sink has taken since it started.
func (s *Sink) Len() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// ForUniqueID returns the latest remembered request that carried the event
// with unique_id id.
func (s *Sink) ForUniqueID(id string) (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq, ok := s.byID[id]
	if !ok || len(s.reqs) == 0 {
		return Request{}, false
	}
	i := int(seq - s.reqs[0].Seq)
	if i < 0 || i >= len(s.reqs) {
		return Request{}, false
	}
	return s.reqs[i], true
}

// String describes the sink for start-up logs.
func (s *Sink) String() string {
	return fmt.Sprintf("local sink (keeps the last %d requests, at most %d MiB, in memory; nothing is sent to Klaviyo)", s.keep, s.maxBytes>>20)
}
