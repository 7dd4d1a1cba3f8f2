package klaviyo

import (
	"context"
	"time"
)

// Kind classifies the outcome of one request to Klaviyo.
type Kind int

const (
	// Delivered: Klaviyo answered 202; the events are accepted.
	Delivered Kind = iota
	// Retryable: 429, 503/504/524, a timeout or a connection error; send
	// again after RetryAfter.
	Retryable
	// Permanent: any other 4xx (and malformed events caught before
	// sending); sending again cannot succeed. Detail keeps Klaviyo's error.
	Permanent
)

// String names the kind for logs and metrics.
func (k Kind) String() string {
	switch k {
	case Delivered:
		return "delivered"
	case Retryable:
		return "retryable"
	}
	return "permanent"
}

// Outcome is the classified result of one request.
type Outcome struct {
	Kind Kind
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// RetryAfter is how long Klaviyo asked to wait before retrying
	// (Retryable only): from Retry-After, else from "Expected available in
	// N seconds", capped at MaxRetryAfter; zero when it gave no wait, and
	// the caller backs off as it sees fit.
	RetryAfter time.Duration
	// Detail is Klaviyo's error response body (or the transport error's
	// text), never containing the private key.
	Detail string
	// RateLimit is what the RateLimit-* headers said (-1 where absent;
	// all zero when no response arrived).
	RateLimit RateLimit
	// Errors are the entries of Klaviyo's error document (Permanent and
	// Retryable answers that carry one), read from the whole body even
	// when Detail is cut short.
	Errors []APIError
}

// Sender is the part of the client the outbox drives: frame encoded
// events as a request, send it, and classify the result.
type Sender interface {
	// CreateEvent sends one event with POST /api/events.
	CreateEvent(ctx context.Context, e Encoded) Outcome
	// BulkCreateEvents sends up to 1,000 events (≤ 5 MB, no two with the
	// same profile, metric and unique_id) with POST
	// /api/event-bulk-create-jobs. Klaviyo accepts or rejects the request
	// as a whole; a rejection names each refused value by source.pointer
	// (see ParseBulkPointer and BulkEntries).
	BulkCreateEvents(ctx context.Context, events []Encoded) Outcome
}
