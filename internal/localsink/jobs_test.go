package localsink_test

import (
	"context"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/localsink"
)

var _ consent.Client = (*localsink.Sink)(nil)

// TestSinkRecordsJobsKlaviyoAccepts: every kind of job is recorded under
// its endpoint with the body the Klaviyo client would send, which the
// strict fake accepts; the sink answers Delivered.
func TestSinkRecordsJobsKlaviyoAccepts(t *testing.T) {
	ctx := context.Background()
	s := localsink.New(0)
	fake := klaviyotest.NewServer(t)
	past := time.Now().Add(-48 * time.Hour)
	calls := []struct {
		path string
		send func() klaviyo.Outcome
	}{
		{klaviyo.PathSubscribeBulk, func() klaviyo.Outcome {
			return s.BulkSubscribe(ctx, klaviyo.SubscriptionJob{ListID: "AbC123", Email: true, Source: "newsletter",
				Profiles: []klaviyo.SubscriptionProfile{{Email: "a@example.com"}, {Email: "b@example.com"}}})
		}},
		{klaviyo.PathSubscribeBulk, func() klaviyo.Outcome {
			return s.BulkSubscribe(ctx, klaviyo.SubscriptionJob{ListID: "AbC123", Email: true, HistoricalImport: true,
				Profiles: []klaviyo.SubscriptionProfile{{Email: "old@example.com", ConsentedAt: past}}})
		}},
		{klaviyo.PathUnsubscribeBulk, func() klaviyo.Outcome {
			return s.BulkUnsubscribe(ctx, klaviyo.SubscriptionJob{ListID: "AbC123", Email: true, Profiles: []klaviyo.SubscriptionProfile{{Email: "a@example.com"}}})
		}},
		{klaviyo.PathProfileImport, func() klaviyo.Outcome {
			return s.ImportProfile(ctx, klaviyo.ProfileImport{Email: "a@example.com", FirstName: "Ada", Properties: map[string]any{"tier": "gold"}})
		}},
		{klaviyo.PathProfileDeletion, func() klaviyo.Outcome { return s.RequestDeletion(ctx, "a@example.com", "") }},
		{klaviyo.PathBackInStock, func() klaviyo.Outcome {
			return s.CreateBackInStock(ctx, klaviyo.BackInStock{VariantID: "$custom:::$default:::v1", Email: "a@example.com", Channels: []string{"EMAIL"}})
		}},
	}
	for i, c := range calls {
		if o := c.send(); o.Kind != klaviyo.Delivered {
			t.Errorf("call %d (%s): %+v, want Delivered", i, c.path, o)
		}
	}
	reqs := s.Requests()
	if len(reqs) != len(calls) {
		t.Fatalf("%d requests recorded, want %d", len(reqs), len(calls))
	}
	for i, c := range calls {
		r := reqs[len(reqs)-1-i] // newest first
		if r.Path != c.path || r.Status != 202 {
			t.Errorf("request %d: %s %d, want %s 202", i, r.Path, r.Status, c.path)
			continue
		}
		if st := replay(t, fake, r); st/100 != 2 {
			t.Errorf("request %d (%s): the strict fake answered %d to %s", i, r.Path, st, r.Body)
		}
	}
}

// TestSinkRefusesJobsTheClientWouldNotSend: a job the client refuses
// (no profiles; a deletion naming both identifiers) is recorded as a 400
// with the reason and answered Permanent.
func TestSinkRefusesJobsTheClientWouldNotSend(t *testing.T) {
	ctx := context.Background()
	s := localsink.New(0)
	for i, o := range []klaviyo.Outcome{
		s.BulkSubscribe(ctx, klaviyo.SubscriptionJob{ListID: "AbC123", Email: true}),
		s.RequestDeletion(ctx, "a@example.com", "+16175550123"),
	} {
		if o.Kind != klaviyo.Permanent || o.Status != 400 {
			t.Errorf("bad job %d: %+v, want Permanent 400", i, o)
		}
	}
	for _, r := range s.Requests() {
		if r.Status != 400 || r.Detail == "" || r.Body != nil {
			t.Errorf("recorded %+v, want a 400 with a reason and no body", r)
		}
	}
}
