package klaviyo_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

func consentClient(t *testing.T) (*klaviyo.Client, *klaviyotest.Server) {
	t.Helper()
	fake := klaviyotest.NewServer(t)
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, fake
}

// TestConsentRequestsPassTheFake: every consent request the client builds
// passes the fake's slice checks and rules, and what the fake records is
// what was sent.
func TestConsentRequestsPassTheFake(t *testing.T) {
	c, fake := consentClient(t)
	ctx := context.Background()
	past := time.Now().Add(-48 * time.Hour)
	var profiles []klaviyo.SubscriptionProfile
	for i := range klaviyo.MaxSubscribeProfiles {
		profiles = append(profiles, klaviyo.SubscriptionProfile{Email: fmt.Sprintf("p%d@example.com", i), PhoneNumber: fmt.Sprintf("+1617555%04d", i), ConsentedAt: past})
	}
	for name, out := range map[string]klaviyo.Outcome{
		"subscribe":   c.BulkSubscribe(ctx, klaviyo.SubscriptionJob{ListID: "AbC123", Email: true, SMS: true, Source: "checkout", Profiles: profiles}),
		"historical":  c.BulkSubscribe(ctx, klaviyo.SubscriptionJob{ListID: "AbC123", Email: true, HistoricalImport: true, Profiles: profiles[:3]}),
		"unsubscribe": c.BulkUnsubscribe(ctx, klaviyo.SubscriptionJob{ListID: "AbC123", Email: true, Profiles: profiles[:100]}),
		"profile":     c.ImportProfile(ctx, klaviyo.ProfileImport{Email: "p1@example.com", FirstName: "Ada", Properties: map[string]any{"plan": "gold"}}),
		"deletion":    c.RequestDeletion(ctx, "p1@example.com", ""),
		"bis":         c.CreateBackInStock(ctx, klaviyo.BackInStock{VariantID: "$custom:::$default:::SKU-1", Email: "p1@example.com", Channels: []string{"EMAIL"}}),
	} {
		if out.Kind != klaviyo.Delivered {
			t.Errorf("%s: %v %d %s", name, out.Kind, out.Status, out.Detail)
		}
	}
	jobs := fake.SubscriptionJobs()
	if len(jobs) != 3 {
		t.Fatalf("fake recorded %d jobs, want 3", len(jobs))
	}
	for _, j := range jobs {
		switch {
		case j.Path == klaviyotest.PathSubscribeBulk && !j.HistoricalImport:
			if len(j.Profiles) != 1000 || j.Source != "checkout" || !j.Profiles[999].SMSChannel || j.Profiles[999].PhoneNumber != "+16175550999" {
				t.Errorf("subscribe job recorded as %+v", j.Profiles[999])
			}
		case j.Path == klaviyotest.PathSubscribeBulk:
			if j.Profiles[0].ConsentedAt != past.UTC().Format(time.RFC3339) {
				t.Errorf("historical consented_at = %q", j.Profiles[0].ConsentedAt)
			}
		case j.Path == klaviyotest.PathUnsubscribeBulk:
			if len(j.Profiles) != 100 || j.Profiles[0].SMSChannel {
				t.Errorf("unsubscribe recorded %d profiles, sms %v", len(j.Profiles), j.Profiles[0].SMSChannel)
			}
		}
	}
	if n := len(fake.ConsentRecords()); n != 3 {
		t.Errorf("fake recorded %d profile/deletion/back-in-stock requests, want 3", n)
	}
}

// TestConsentRulesRefused: the client refuses what Klaviyo would, before
// sending; and the fake refuses the same when the raw body reaches it.
func TestConsentRulesRefused(t *testing.T) {
	c, fake := consentClient(t)
	ctx := context.Background()
	one := []klaviyo.SubscriptionProfile{{Email: "a@example.com", ConsentedAt: time.Now().Add(time.Hour)}}
	many := make([]klaviyo.SubscriptionProfile, 101)
	for i := range many {
		many[i].Email = fmt.Sprintf("u%d@example.com", i)
	}
	for name, tc := range map[string]struct {
		out  klaviyo.Outcome
		want string
	}{
		"future historical": {c.BulkSubscribe(ctx, klaviyo.SubscriptionJob{Email: true, HistoricalImport: true, Profiles: one}), "past consented_at"},
		"sms without phone": {c.BulkSubscribe(ctx, klaviyo.SubscriptionJob{SMS: true, Profiles: one}), "phone number"},
		"bad list":          {c.BulkSubscribe(ctx, klaviyo.SubscriptionJob{ListID: "list-1", Email: true, Profiles: one}), "list id"},
		"101 unsubscribes":  {c.BulkUnsubscribe(ctx, klaviyo.SubscriptionJob{Email: true, Profiles: many}), "1 to 100"},
		"two identifiers":   {c.RequestDeletion(ctx, "a@example.com", "+16175550000"), "exactly one"},
	} {
		if tc.out.Kind != klaviyo.Permanent || !strings.Contains(tc.out.Detail, tc.want) {
			t.Errorf("%s: %v %q, want a permanent refusal mentioning %q", name, tc.out.Kind, tc.out.Detail, tc.want)
		}
	}
	if n := fake.Stats().Requests; n != 0 {
		t.Errorf("%d refused requests reached the fake", n)
	}
	// The fake's own rules, with bodies the client would not build.
	for name, body := range map[string]string{
		"future historical": `{"data":{"type":"profile-subscription-bulk-create-job","attributes":{"historical_import":true,"profiles":{"data":[{"type":"profile","attributes":{"email":"a@example.com","subscriptions":{"email":{"marketing":{"consent":"SUBSCRIBED","consented_at":"2999-01-01T00:00:00Z"}}}}}]}}}}`,
		"national phone":    `{"data":{"type":"profile-subscription-bulk-create-job","attributes":{"profiles":{"data":[{"type":"profile","attributes":{"phone_number":"6175550000","subscriptions":{"sms":{"marketing":{"consent":"SUBSCRIBED"}}}}}]}}}}`,
		"unsubscribed":      `{"data":{"type":"profile-subscription-bulk-create-job","attributes":{"profiles":{"data":[{"type":"profile","attributes":{"email":"a@example.com","subscriptions":{"email":{"marketing":{"consent":"UNSUBSCRIBED"}}}}}]}}}}`,
	} {
		if out := c.Post(ctx, klaviyo.PathSubscribeBulk, []byte(body)); out.Kind != klaviyo.Permanent || out.Status != 400 {
			t.Errorf("%s: fake answered %d (%v), want 400", name, out.Status, out.Kind)
		}
	}
}

// TestConsentRateLimits: the client shapes each endpoint to its
// documented limit, so a burst of deletions (3/s) is never throttled.
func TestConsentRateLimits(t *testing.T) {
	c, fake := consentClient(t)
	ctx := context.Background()
	start := time.Now()
	for i := range 7 {
		if out := c.RequestDeletion(ctx, fmt.Sprintf("d%d@example.com", i), ""); out.Kind != klaviyo.Delivered {
			t.Fatalf("deletion %d: %d %s", i, out.Status, out.Detail)
		}
	}
	if st := fake.StatsFor(klaviyotest.PathProfileDeletion); st.Throttled != 0 || st.Accepted != 7 {
		t.Errorf("deletions: %+v", st)
	}
	// 7 requests at 3/s need at least two full seconds.
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("7 deletions took %s: the 3/s limit was not applied", d)
	}
}
