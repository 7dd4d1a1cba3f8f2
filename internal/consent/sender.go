package consent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
)

// Client is the part of klaviyo.Client that delivers jobs.
type Client interface {
	BulkSubscribe(ctx context.Context, j klaviyo.SubscriptionJob) klaviyo.Outcome
	BulkUnsubscribe(ctx context.Context, j klaviyo.SubscriptionJob) klaviyo.Outcome
	ImportProfile(ctx context.Context, p klaviyo.ProfileImport) klaviyo.Outcome
	RequestDeletion(ctx context.Context, email, phone string) klaviyo.Outcome
	CreateBackInStock(ctx context.Context, b klaviyo.BackInStock) klaviyo.Outcome
}

// Sender delivers the outbox's jobs through Client (outbox.JobSender).
type Sender struct {
	Client Client
}

var _ outbox.JobSender = Sender{}

// permanent is the outcome of a stored job that cannot be read.
func permanent(err error) klaviyo.Outcome {
	return klaviyo.Outcome{Kind: klaviyo.Permanent, Detail: "stored job cannot be sent: " + err.Error()}
}

// SendJob sends payloads of one kind and group as one request.
func (s Sender) SendJob(ctx context.Context, kind, grp string, payloads [][]byte) klaviyo.Outcome {
	switch kind {
	case outbox.JobSubscribe, outbox.JobUnsubscribe:
		var g group
		if err := json.Unmarshal([]byte(grp), &g); err != nil {
			return permanent(err)
		}
		j := klaviyo.SubscriptionJob{ListID: g.List, Email: g.Email, SMS: g.SMS, Source: g.Source, HistoricalImport: g.Historical}
		for _, p := range payloads {
			var m member
			if err := json.Unmarshal(p, &m); err != nil {
				return permanent(err)
			}
			j.Profiles = append(j.Profiles, klaviyo.SubscriptionProfile{Email: m.Email, PhoneNumber: m.PhoneNumber, ConsentedAt: m.ConsentedAt})
		}
		if kind == outbox.JobUnsubscribe {
			return s.Client.BulkUnsubscribe(ctx, j)
		}
		return s.Client.BulkSubscribe(ctx, j)
	}
	if len(payloads) != 1 {
		return permanent(fmt.Errorf("a %s job is sent alone, not %d at once", kind, len(payloads)))
	}
	switch kind {
	case outbox.JobProfile:
		var p klaviyo.ProfileImport
		if err := json.Unmarshal(payloads[0], &p); err != nil {
			return permanent(err)
		}
		return s.Client.ImportProfile(ctx, p)
	case outbox.JobErase:
		var p Person
		if err := json.Unmarshal(payloads[0], &p); err != nil {
			return permanent(err)
		}
		return s.Client.RequestDeletion(ctx, p.Email, p.PhoneNumber)
	case outbox.JobBackInStock:
		var b klaviyo.BackInStock
		if err := json.Unmarshal(payloads[0], &b); err != nil {
			return permanent(err)
		}
		return s.Client.CreateBackInStock(ctx, b)
	}
	return permanent(fmt.Errorf("unknown job kind %q", kind))
}
