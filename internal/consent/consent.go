// Package consent is snippetd's marketing consent and profile path:
// subscriptions and unsubscriptions (API, orders, the proxy's signup
// form), profile upserts, right-to-be-forgotten requests and server-side
// back-in-stock requests. Each request is checked against Klaviyo's rules
// here, stored durably as outbox jobs (202 means committed) and delivered
// by the outbox's leader as Klaviyo's bulk jobs. It imports outbox,
// klaviyo, apperr and shop.
package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
	"github.com/snippetd/snippetd/shop"
)

// JobStore stores jobs durably (*outbox.Outbox).
type JobStore interface {
	EnqueueJobs(ctx context.Context, jobs []outbox.Job) (int, error)
}

// Service checks consent requests and stores them as outbox jobs.
type Service struct {
	Jobs JobStore
	// ListID is the default list (SNIPPETD_LIST_ID); SMSListID, when set,
	// the list of SMS subscriptions (SNIPPETD_SMS_LIST_ID).
	ListID, SMSListID string
	// DefaultCountry reads national phone numbers.
	DefaultCountry string
	// Variants, when set, says whether a catalog variant exists (a
	// back-in-stock request for an unknown one is refused).
	Variants func(ctx context.Context, id string) (bool, error)
	// Erasers remove what other parts of snippetd hold about a person.
	Erasers []Eraser
	// Scrub, when set, runs the erasers so that what they delete leaves
	// no trace in the database's files (outbox.Options.Scrub).
	Scrub func(ctx context.Context, erase func(context.Context) error) error
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Channels are the marketing channels of a subscription.
type Channels struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
}

// Subscription is one subscribe or unsubscribe request.
type Subscription struct {
	Email       string    `json:"email,omitempty"`
	PhoneNumber string    `json:"phone_number,omitempty"`
	Channels    *Channels `json:"channels"`
	ListID      string    `json:"list_id,omitempty"`
	Source      string    `json:"source,omitempty"`
	ConsentedAt time.Time `json:"consented_at,omitzero"`
	// HistoricalImport subscribes without a confirmation mail or "added
	// to list" flow; it needs a past ConsentedAt. The proxy never lets a
	// browser set it.
	HistoricalImport bool `json:"historical_import,omitempty"`
}

// group is what the jobs of one bulk request share.
type group struct {
	List       string `json:"list,omitempty"`
	Email      bool   `json:"email,omitempty"`
	SMS        bool   `json:"sms,omitempty"`
	Source     string `json:"source,omitempty"`
	Historical bool   `json:"historical,omitempty"`
}

// member is one profile of a bulk request as stored.
type member struct {
	Email       string    `json:"email,omitempty"`
	PhoneNumber string    `json:"phone_number,omitempty"`
	ConsentedAt time.Time `json:"consented_at,omitzero"`
}

// Accepted is the answer to a stored request.
type Accepted struct {
	// Jobs is how many jobs were stored (a subscription to two lists is
	// two; one already stored for the same order, none).
	Jobs int `json:"jobs"`
}

// NormalizeEmail trims and lower-cases an email and checks its form.
func NormalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	at := strings.LastIndexByte(e, '@')
	if len(e) > 254 || at < 1 || at == len(e)-1 || strings.ContainsFunc(e, unicode.IsSpace) || !strings.Contains(e[at:], ".") {
		return "", fmt.Errorf("is not an email address")
	}
	return e, nil
}

// normalizeIdentity checks an email and phone (at least one, as want
// says) and returns them normalised.
func (s *Service) normalizeIdentity(field, email, phone string) (string, string, error) {
	var err error
	if email != "" {
		if email, err = NormalizeEmail(email); err != nil {
			return "", "", apperr.FieldErrorf(field+"email", "%v", err)
		}
	}
	if phone != "" {
		if phone, err = shop.NormalizePhone(phone, s.DefaultCountry); err != nil {
			return "", "", apperr.FieldErrorf(field+"phone_number", "must be a phone number in E.164 form such as +16175550123 (or national, with SNIPPETD_DEFAULT_COUNTRY set)")
		}
	}
	return email, phone, nil
}

// subscriptionJobs checks subs and turns each into jobs: one per list and
// channel set (email to ListID, SMS to SMSListID when it is set).
func (s *Service) subscriptionJobs(kind string, subs []Subscription, field string, historicalAllowed bool) ([]outbox.Job, error) {
	if len(subs) == 0 {
		return nil, apperr.FieldErrorf(strings.TrimSuffix(field, "."), "must hold at least one subscription")
	}
	now := s.now()
	var jobs []outbox.Job
	for i, sub := range subs {
		f := field
		if len(subs) > 1 {
			f = fmt.Sprintf("%s[%d].", strings.TrimSuffix(field, "."), i)
		}
		email, phone, err := s.normalizeIdentity(f, sub.Email, sub.PhoneNumber)
		if err != nil {
			return nil, err
		}
		if sub.Channels == nil || !sub.Channels.Email && !sub.Channels.SMS {
			return nil, apperr.FieldErrorf(f+"channels", "must name at least one channel: {\"email\": true} and/or {\"sms\": true}")
		}
		ch := *sub.Channels
		if ch.Email && email == "" {
			return nil, apperr.FieldErrorf(f+"email", "is required for the email channel")
		}
		if ch.SMS && phone == "" {
			return nil, apperr.FieldErrorf(f+"phone_number", "is required for the sms channel")
		}
		if sub.ListID != "" && !klaviyo.ValidListID(sub.ListID) {
			return nil, apperr.FieldErrorf(f+"list_id", "%q is not a Klaviyo list id (six letters and digits, such as Y6nRLr)", sub.ListID)
		}
		if len(sub.Source) > 255 || strings.ContainsFunc(sub.Source, unicode.IsControl) {
			return nil, apperr.FieldErrorf(f+"source", "must be at most 255 characters without control characters")
		}
		if sub.HistoricalImport {
			if !historicalAllowed {
				return nil, apperr.FieldErrorf(f+"historical_import", "is not allowed here")
			}
			if sub.ConsentedAt.IsZero() || !sub.ConsentedAt.Before(now) {
				return nil, apperr.FieldErrorf(f+"consented_at", "historical_import needs consented_at in the past (when the consent was collected)")
			}
		}
		if !sub.ConsentedAt.IsZero() && sub.ConsentedAt.After(now.Add(5*time.Minute)) {
			return nil, apperr.FieldErrorf(f+"consented_at", "is in the future")
		}
		if kind == outbox.JobUnsubscribe {
			sub.Source, sub.HistoricalImport, sub.ConsentedAt = "", false, time.Time{}
		}
		// Email and SMS to their own lists when an SMS list is set and no
		// list was named; otherwise one job for both channels.
		type part struct {
			list string
			ch   Channels
		}
		var parts []part
		switch {
		case sub.ListID != "":
			parts = []part{{sub.ListID, ch}}
		case s.SMSListID != "" && ch.SMS && ch.Email:
			parts = []part{{s.ListID, Channels{Email: true}}, {s.SMSListID, Channels{SMS: true}}}
		case s.SMSListID != "" && ch.SMS:
			parts = []part{{s.SMSListID, ch}}
		default:
			parts = []part{{s.ListID, ch}}
		}
		for _, p := range parts {
			m := member{ConsentedAt: sub.ConsentedAt}
			key := ""
			if p.ch.Email {
				m.Email, key = email, "email:"+email
			}
			if p.ch.SMS {
				m.PhoneNumber = phone
				if key == "" {
					key = "phone:" + phone
				}
			}
			g, _ := json.Marshal(group{List: p.list, Email: p.ch.Email, SMS: p.ch.SMS, Source: sub.Source, Historical: sub.HistoricalImport})
			payload, _ := json.Marshal(m)
			jobs = append(jobs, outbox.Job{Kind: kind, Group: string(g), ProfileKey: key, Payload: payload})
		}
	}
	return jobs, nil
}

// Subscribe stores subscriptions; each is delivered within a bulk
// subscribe job. historicalAllowed is false for what a browser sends.
func (s *Service) Subscribe(ctx context.Context, subs []Subscription, historicalAllowed bool) (Accepted, error) {
	jobs, err := s.subscriptionJobs(outbox.JobSubscribe, subs, "", historicalAllowed)
	if err != nil {
		return Accepted{}, err
	}
	n, err := s.Jobs.EnqueueJobs(ctx, jobs)
	return Accepted{Jobs: n}, err
}

// Unsubscribe stores unsubscriptions (bulk unsubscribe jobs).
func (s *Service) Unsubscribe(ctx context.Context, subs []Subscription) (Accepted, error) {
	jobs, err := s.subscriptionJobs(outbox.JobUnsubscribe, subs, "", false)
	if err != nil {
		return Accepted{}, err
	}
	n, err := s.Jobs.EnqueueJobs(ctx, jobs)
	return Accepted{Jobs: n}, err
}

// OrderConsent is an order's marketing_consent with whom it names.
type OrderConsent struct {
	OrderID     string
	Email       string
	PhoneNumber string
	// EmailConsent and SMSConsent are true only when the order said so
	// explicitly.
	EmailConsent, SMSConsent bool
	ConsentedAt              time.Time
	// Historical is set for backfilled orders: historical_import, with
	// ConsentedAt (the order's time when not given).
	Historical bool
	Source     string
}

// SubscribeOrder stores the subscription an order's explicit consent
// asks for, once per order and channel however often the order is sent.
// No consent (false or absent) stores nothing: not ticking a box is not
// an unsubscribe.
func (s *Service) SubscribeOrder(ctx context.Context, c OrderConsent) error {
	if !c.EmailConsent && !c.SMSConsent {
		return nil
	}
	var subs []Subscription
	var once []string
	if c.EmailConsent && c.Email != "" {
		subs = append(subs, Subscription{Email: c.Email, Channels: &Channels{Email: true}})
		once = append(once, "order:"+c.OrderID+":email")
	}
	if c.SMSConsent && c.PhoneNumber != "" {
		subs = append(subs, Subscription{PhoneNumber: c.PhoneNumber, Channels: &Channels{SMS: true}})
		once = append(once, "order:"+c.OrderID+":sms")
	}
	if len(subs) == 0 {
		return nil
	}
	source := c.Source
	if source == "" {
		source = "snippetd order"
	}
	for i := range subs {
		subs[i].Source = source
		subs[i].ConsentedAt = c.ConsentedAt
		subs[i].HistoricalImport = c.Historical
	}
	var jobs []outbox.Job
	for i, sub := range subs {
		js, err := s.subscriptionJobs(outbox.JobSubscribe, []Subscription{sub}, "marketing_consent.", true)
		if err != nil {
			return err
		}
		for _, j := range js {
			j.Once = once[i]
			jobs = append(jobs, j)
		}
	}
	_, err := s.Jobs.EnqueueJobs(ctx, jobs)
	return err
}
