package localsink

import (
	"context"

	"github.com/snippetd/snippetd/internal/klaviyo"
)

// The sink takes the outbox's consent and profile jobs as it takes events
// (it is a consent.Client): each is framed as the Klaviyo client frames
// it, recorded under its endpoint's path and answered Delivered, so that
// in local-sink mode jobs end delivered (and visible) instead of pending
// for ever. A job the client would refuse to send is recorded as a 400
// with the reason and answered Permanent, as the client answers.

// BulkSubscribe records POST /api/profile-subscription-bulk-create-jobs.
func (s *Sink) BulkSubscribe(_ context.Context, j klaviyo.SubscriptionJob) klaviyo.Outcome {
	body, err := klaviyo.SubscribeBody(j, s.now())
	return s.recordJob(klaviyo.PathSubscribeBulk, body, err)
}

// BulkUnsubscribe records POST /api/profile-subscription-bulk-delete-jobs.
func (s *Sink) BulkUnsubscribe(_ context.Context, j klaviyo.SubscriptionJob) klaviyo.Outcome {
	body, err := klaviyo.UnsubscribeBody(j, s.now())
	return s.recordJob(klaviyo.PathUnsubscribeBulk, body, err)
}

// ImportProfile records POST /api/profile-import.
func (s *Sink) ImportProfile(_ context.Context, p klaviyo.ProfileImport) klaviyo.Outcome {
	body, err := klaviyo.ProfileImportBody(p)
	return s.recordJob(klaviyo.PathProfileImport, body, err)
}

// RequestDeletion records POST /api/data-privacy-deletion-jobs.
func (s *Sink) RequestDeletion(_ context.Context, email, phone string) klaviyo.Outcome {
	body, err := klaviyo.DeletionBody(email, phone)
	return s.recordJob(klaviyo.PathProfileDeletion, body, err)
}

// CreateBackInStock records POST /api/back-in-stock-subscriptions.
func (s *Sink) CreateBackInStock(_ context.Context, b klaviyo.BackInStock) klaviyo.Outcome {
	body, err := klaviyo.BackInStockBody(b)
	return s.recordJob(klaviyo.PathBackInStock, body, err)
}

func (s *Sink) recordJob(path string, body []byte, err error) klaviyo.Outcome {
	if err != nil {
		return s.record(path, nil, nil, 400, "not sent: "+err.Error())
	}
	return s.record(path, body, nil, 202, "")
}
