package consent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/outbox"
)

type memJobs struct{ jobs []outbox.Job }

func (m *memJobs) EnqueueJobs(_ context.Context, jobs []outbox.Job) (int, error) {
	m.jobs = append(m.jobs, jobs...)
	return len(jobs), nil
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func service() (*Service, *memJobs) {
	m := &memJobs{}
	return &Service{Jobs: m, ListID: "EmAiL1", SMSListID: "SmS001", DefaultCountry: "US", Now: func() time.Time { return now }}, m
}

// TestSubscriptionRules: bad input is a 4xx naming the field, as Klaviyo
// would refuse it.
func TestSubscriptionRules(t *testing.T) {
	ch := func(e, s bool) *Channels { return &Channels{Email: e, SMS: s} }
	for name, c := range map[string]struct {
		subs       []Subscription
		historical bool
		field      string
	}{
		"no channel":              {[]Subscription{{Email: "a@example.com"}}, true, "channels"},
		"empty channels":          {[]Subscription{{Email: "a@example.com", Channels: ch(false, false)}}, true, "channels"},
		"email channel no email":  {[]Subscription{{PhoneNumber: "+16175550100", Channels: ch(true, false)}}, true, "email"},
		"sms channel no phone":    {[]Subscription{{Email: "a@example.com", Channels: ch(false, true)}}, true, "phone_number"},
		"bad email":               {[]Subscription{{Email: "a@", Channels: ch(true, false)}}, true, "email"},
		"bad phone":               {[]Subscription{{PhoneNumber: "12", Channels: ch(false, true)}}, true, "phone_number"},
		"bad list":                {[]Subscription{{Email: "a@example.com", Channels: ch(true, false), ListID: "my-list"}}, true, "list_id"},
		"second of two":           {[]Subscription{{Email: "a@example.com", Channels: ch(true, false)}, {Email: "b", Channels: ch(true, false)}}, true, "[1].email"},
		"historical no time":      {[]Subscription{{Email: "a@example.com", Channels: ch(true, false), HistoricalImport: true}}, true, "consented_at"},
		"historical future":       {[]Subscription{{Email: "a@example.com", Channels: ch(true, false), HistoricalImport: true, ConsentedAt: now.Add(time.Hour)}}, true, "consented_at"},
		"historical from browser": {[]Subscription{{Email: "a@example.com", Channels: ch(true, false), HistoricalImport: true, ConsentedAt: now.Add(-time.Hour)}}, false, "historical_import"},
		"none":                    {nil, true, ""},
	} {
		s, m := service()
		_, err := s.Subscribe(context.Background(), c.subs, c.historical)
		e, ok := apperr.As(err)
		if !ok || e.Code != apperr.EINVALID || e.Field != c.field {
			t.Errorf("%s: %v, want EINVALID naming %q", name, err, c.field)
		}
		if len(m.jobs) != 0 {
			t.Errorf("%s: %d jobs stored for a refused request", name, len(m.jobs))
		}
	}
}

// TestSubscriptionLists: email goes to the list, SMS to the SMS list when
// set; a named list takes both; the phone is normalised; an
// unsubscription carries no source or consent time.
func TestSubscriptionLists(t *testing.T) {
	s, m := service()
	subs := []Subscription{
		{Email: " Ann@Example.com ", PhoneNumber: "(617) 555-0100", Channels: &Channels{Email: true, SMS: true}, Source: "footer"},
		{Email: "bob@example.com", PhoneNumber: "+16175550101", Channels: &Channels{Email: true, SMS: true}, ListID: "Named1"},
	}
	if acc, err := s.Subscribe(context.Background(), subs, true); err != nil || acc.Jobs != 3 {
		t.Fatalf("Subscribe = %+v, %v; want 3 jobs", acc, err)
	}
	type got struct {
		g group
		m member
	}
	var all []got
	for _, j := range m.jobs {
		var x got
		json.Unmarshal([]byte(j.Group), &x.g)
		json.Unmarshal(j.Payload, &x.m)
		all = append(all, x)
	}
	want := []got{
		{group{List: "EmAiL1", Email: true, Source: "footer"}, member{Email: "ann@example.com"}},
		{group{List: "SmS001", SMS: true, Source: "footer"}, member{PhoneNumber: "+16175550100"}},
		{group{List: "Named1", Email: true, SMS: true}, member{Email: "bob@example.com", PhoneNumber: "+16175550101"}},
	}
	for i := range want {
		if i >= len(all) || all[i] != want[i] {
			t.Errorf("job %d = %+v, want %+v", i, all, want[i])
		}
	}
	s, m = service()
	if _, err := s.Unsubscribe(context.Background(), []Subscription{{Email: "ann@example.com", Channels: &Channels{Email: true}, Source: "x", ConsentedAt: now.Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if j := m.jobs[0]; j.Kind != outbox.JobUnsubscribe || strings.Contains(j.Group, "x") || strings.Contains(string(j.Payload), "consented_at") {
		t.Errorf("unsubscribe stored %+v", j)
	}
}

// TestOrderConsentOnlyTrue: an order subscribes only what it says true,
// once per order and channel (Once keys), never an unsubscribe.
func TestOrderConsentOnlyTrue(t *testing.T) {
	s, m := service()
	ctx := context.Background()
	if err := s.SubscribeOrder(ctx, OrderConsent{OrderID: "1", Email: "a@example.com", PhoneNumber: "+16175550100"}); err != nil || len(m.jobs) != 0 {
		t.Fatalf("no consent stored %d jobs (%v)", len(m.jobs), err)
	}
	if err := s.SubscribeOrder(ctx, OrderConsent{OrderID: "1", Email: "a@example.com", PhoneNumber: "+16175550100", EmailConsent: true, SMSConsent: true}); err != nil {
		t.Fatal(err)
	}
	if len(m.jobs) != 2 || m.jobs[0].Once != "order:1:email" || m.jobs[1].Once != "order:1:sms" || m.jobs[0].Kind != outbox.JobSubscribe || m.jobs[1].Kind != outbox.JobSubscribe {
		t.Errorf("stored %+v", m.jobs)
	}
}

// TestBackInStockRules: the variant must be in the catalog when one is
// configured; channels follow the identifiers.
func TestBackInStockRules(t *testing.T) {
	s, m := service()
	s.Variants = func(_ context.Context, id string) (bool, error) { return id == "v1", nil }
	ctx := context.Background()
	if _, err := s.RequestBackInStock(ctx, BackInStock{VariantID: "v2", Email: "a@example.com"}); err == nil || !strings.Contains(err.Error(), "v2") {
		t.Errorf("unknown variant: %v, want a refusal naming it", err)
	} else if e, _ := apperr.As(err); e.Field != "variant_id" {
		t.Errorf("unknown variant: field %q", e.Field)
	}
	if _, err := s.RequestBackInStock(ctx, BackInStock{VariantID: "v1", Email: "a@example.com", Channels: &Channels{SMS: true}}); err == nil {
		t.Error("SMS without a phone accepted")
	}
	if _, err := s.RequestBackInStock(ctx, BackInStock{VariantID: "$custom:::$default:::v1", Email: "A@example.com", PhoneNumber: "+16175550100"}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		VariantID string
		Email     string
		Channels  []string
	}
	json.Unmarshal(m.jobs[0].Payload, &got)
	if got.VariantID != "$custom:::$default:::v1" || got.Email != "a@example.com" || strings.Join(got.Channels, ",") != "EMAIL,SMS" {
		t.Errorf("stored %s", m.jobs[0].Payload)
	}
}
