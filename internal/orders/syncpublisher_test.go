package orders_test

import (
	"context"
	"fmt"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// syncPublisher, for tests that want Klaviyo to see an order at once,
// sends each event with CreateEvent through Sender, without
// retrying: a transient failure is EUNAVAILABLE, for the client to send
// the request again.
type syncPublisher struct {
	Sender klaviyo.Sender
}

// Publish sends the events in order and stops at the first that Klaviyo
// did not accept. A resend of the same request is harmless: every event has
// a unique_id, so Klaviyo keeps each once.
func (p syncPublisher) Publish(ctx context.Context, events []klaviyo.Event) error {
	encs := make([]klaviyo.Encoded, len(events))
	for i, e := range events {
		enc, err := klaviyo.Encode(e, time.Now())
		if err != nil {
			return err
		}
		encs[i] = enc
	}
	return p.PublishEncoded(ctx, events, encs)
}

// PublishEncoded is Publish for events already encoded.
func (p syncPublisher) PublishEncoded(ctx context.Context, events []klaviyo.Event, encs []klaviyo.Encoded) error {
	for i, e := range events {
		out := p.Sender.CreateEvent(ctx, encs[i])
		switch out.Kind {
		case klaviyo.Delivered:
			continue
		case klaviyo.Retryable:
			return &apperr.Error{Code: apperr.EUNAVAILABLE, Message: fmt.Sprintf(
				"Klaviyo is unavailable (%s event %d of %d, status %d); send the same request again later", e.Metric, i+1, len(events), out.Status)}
		}
		if out.Status == 401 || out.Status == 403 {
			return &apperr.Error{Code: apperr.EUNAVAILABLE, Message: fmt.Sprintf(
				"Klaviyo refused snippetd's private key (status %d): check SNIPPETD_PRIVATE_KEY and its events:write scope", out.Status)}
		}
		return &apperr.Error{Code: apperr.EINVALID, Message: fmt.Sprintf(
			"Klaviyo rejected the %s event (status %d): %s", e.Metric, out.Status, out.Detail)}
	}
	return nil
}
