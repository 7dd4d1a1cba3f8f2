package klaviyo

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Consent, profile and back-in-stock endpoints (server side, private key).
const (
	// PathSubscribeBulk is bulk_subscribe_profiles.
	PathSubscribeBulk = "/api/profile-subscription-bulk-create-jobs"
	// PathUnsubscribeBulk is bulk_unsubscribe_profiles.
	PathUnsubscribeBulk = "/api/profile-subscription-bulk-delete-jobs"
	// PathProfileImport is create_or_update_profile.
	PathProfileImport = "/api/profile-import"
	// PathProfileDeletion is request_profile_deletion.
	PathProfileDeletion = "/api/data-privacy-deletion-jobs"
	// PathBackInStock is create_back_in_stock_subscription.
	PathBackInStock = "/api/back-in-stock-subscriptions"
	// PathClientSubscriptions is create_client_subscription (public key,
	// for browsers; the helper calls it, never the server).
	PathClientSubscriptions = "/client/subscriptions"
)

// The limits each operation's x-klaviyo-ratelimit documents.
var (
	// SubscribeBuckets: 75/s, 750/min (bulk subscribe and unsubscribe).
	SubscribeBuckets = Buckets{Burst: 75, Steady: 750}
	// ProfileImportBuckets: 75/s, 750/min.
	ProfileImportBuckets = Buckets{Burst: 75, Steady: 750}
	// DeletionBuckets: 3/s, 60/min.
	DeletionBuckets = Buckets{Burst: 3, Steady: 60}
	// BackInStockBuckets: 350/s, 3,500/min.
	BackInStockBuckets = Buckets{Burst: 350, Steady: 3500}
)

// Per-request maxima the operations' descriptions give.
const (
	// MaxSubscribeProfiles is bulk subscribe's maximum per job.
	MaxSubscribeProfiles = 1000
	// MaxUnsubscribeProfiles is bulk unsubscribe's maximum per call.
	MaxUnsubscribeProfiles = 100
)

// setConsentBuckets installs the documented limits of the consent
// endpoints (NewClient calls it).
func (c *client) setConsentBuckets() {
	c.SetBuckets(PathSubscribeBulk, SubscribeBuckets)
	c.SetBuckets(PathUnsubscribeBulk, SubscribeBuckets)
	c.SetBuckets(PathProfileImport, ProfileImportBuckets)
	c.SetBuckets(PathProfileDeletion, DeletionBuckets)
	c.SetBuckets(PathBackInStock, BackInStockBuckets)
}

// listIDRE is the form of a Klaviyo list id (six letters and digits).
var listIDRE = regexp.MustCompile(`^[A-Za-z0-9]{6}$`)

// ValidListID reports whether id has the form of a Klaviyo list id.
func ValidListID(id string) bool { return listIDRE.MatchString(id) }

// SubscriptionJob is one bulk subscribe or unsubscribe request: profiles
// that share a list, channels, source and import mode.
type SubscriptionJob struct {
	// ListID is the list (empty: the account's default opt-in setting
	// decides, and an unsubscribe is global).
	ListID string
	// Email and SMS are the marketing channels.
	Email, SMS bool
	// Source is the custom_source shown in Klaviyo (subscribe only).
	Source string
	// HistoricalImport subscribes without a confirmation and without
	// "added to list" flows; every profile needs a past ConsentedAt.
	HistoricalImport bool
	Profiles         []SubscriptionProfile
}

// SubscriptionProfile is one profile of a job.
type SubscriptionProfile struct {
	Email       string
	PhoneNumber string
	// ConsentedAt is when consent was collected (zero: now).
	ConsentedAt time.Time
}

type consentAttr struct {
	Consent     string `json:"consent"`
	ConsentedAt string `json:"consented_at,omitempty"`
}

type channelSubs struct {
	Marketing consentAttr `json:"marketing"`
}

type profileSubs struct {
	Email *channelSubs `json:"email,omitempty"`
	SMS   *channelSubs `json:"sms,omitempty"`
}

type subProfileAttrs struct {
	Email         string      `json:"email,omitempty"`
	PhoneNumber   string      `json:"phone_number,omitempty"`
	Subscriptions profileSubs `json:"subscriptions"`
}

type jobResource[A any] struct {
	Type       string `json:"type"`
	ID         string `json:"id,omitempty"`
	Attributes A      `json:"attributes"`
}

type listRel struct {
	List struct {
		Data struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"data"`
	} `json:"list"`
}

// check is the rules Klaviyo applies beyond the schema: 1 to max
// profiles, each with the identifier its channels need, a list id in
// Klaviyo's form, and historical_import only with past consent times.
func (j SubscriptionJob) check(max int, now time.Time) error {
	if len(j.Profiles) == 0 || len(j.Profiles) > max {
		return fmt.Errorf("a job holds 1 to %d profiles, not %d", max, len(j.Profiles))
	}
	if !j.Email && !j.SMS {
		return fmt.Errorf("a job needs the email or sms channel")
	}
	if j.ListID != "" && !ValidListID(j.ListID) {
		return fmt.Errorf("list id %q is not a Klaviyo list id", j.ListID)
	}
	for i, p := range j.Profiles {
		if j.Email && p.Email == "" {
			return fmt.Errorf("profiles[%d]: the email channel needs an email", i)
		}
		if j.SMS && p.PhoneNumber == "" {
			return fmt.Errorf("profiles[%d]: the sms channel needs a phone number", i)
		}
		if j.HistoricalImport && (p.ConsentedAt.IsZero() || !p.ConsentedAt.Before(now)) {
			return fmt.Errorf("profiles[%d]: historical_import needs a past consented_at", i)
		}
	}
	return nil
}

func (j SubscriptionJob) profiles(consent string, withTimes bool) []jobResource[subProfileAttrs] {
	out := make([]jobResource[subProfileAttrs], len(j.Profiles))
	for i, p := range j.Profiles {
		a := subProfileAttrs{}
		at := ""
		if withTimes && !p.ConsentedAt.IsZero() {
			at = p.ConsentedAt.UTC().Format(time.RFC3339)
		}
		if j.Email {
			a.Email = p.Email
			a.Subscriptions.Email = &channelSubs{consentAttr{consent, at}}
		}
		if j.SMS {
			a.PhoneNumber = p.PhoneNumber
			a.Subscriptions.SMS = &channelSubs{consentAttr{consent, at}}
		}
		out[i] = jobResource[subProfileAttrs]{Type: "profile", Attributes: a}
	}
	return out
}

func (j SubscriptionJob) relationships() *listRel {
	if j.ListID == "" {
		return nil
	}
	var r listRel
	r.List.Data.Type, r.List.Data.ID = "list", j.ListID
	return &r
}

// SubscribeBody is the bulk_subscribe_profiles request for j.
func SubscribeBody(j SubscriptionJob, now time.Time) ([]byte, error) {
	if err := j.check(MaxSubscribeProfiles, now); err != nil {
		return nil, err
	}
	type attrs struct {
		CustomSource     string `json:"custom_source,omitempty"`
		HistoricalImport bool   `json:"historical_import,omitempty"`
		Profiles         struct {
			Data []jobResource[subProfileAttrs] `json:"data"`
		} `json:"profiles"`
	}
	var a attrs
	a.CustomSource, a.HistoricalImport = j.Source, j.HistoricalImport
	a.Profiles.Data = j.profiles("SUBSCRIBED", true)
	return json.Marshal(map[string]any{"data": struct {
		Type          string   `json:"type"`
		Attributes    attrs    `json:"attributes"`
		Relationships *listRel `json:"relationships,omitempty"`
	}{"profile-subscription-bulk-create-job", a, j.relationships()}})
}

// UnsubscribeBody is the bulk_unsubscribe_profiles request for j (no
// source, no consent times: the schema has neither).
func UnsubscribeBody(j SubscriptionJob, now time.Time) ([]byte, error) {
	j.HistoricalImport = false
	if err := j.check(MaxUnsubscribeProfiles, now); err != nil {
		return nil, err
	}
	type attrs struct {
		Profiles struct {
			Data []jobResource[subProfileAttrs] `json:"data"`
		} `json:"profiles"`
	}
	var a attrs
	a.Profiles.Data = j.profiles("UNSUBSCRIBED", false)
	return json.Marshal(map[string]any{"data": struct {
		Type          string   `json:"type"`
		Attributes    attrs    `json:"attributes"`
		Relationships *listRel `json:"relationships,omitempty"`
	}{"profile-subscription-bulk-delete-job", a, j.relationships()}})
}

// BulkSubscribe sends j with POST /api/profile-subscription-bulk-create-jobs.
func (c *client) BulkSubscribe(ctx context.Context, j SubscriptionJob) Outcome {
	body, err := SubscribeBody(j, c.now())
	if err != nil {
		return Outcome{Kind: Permanent, Detail: "not sent: " + err.Error()}
	}
	return c.Post(ctx, PathSubscribeBulk, body)
}

// BulkUnsubscribe sends j with POST /api/profile-subscription-bulk-delete-jobs.
func (c *client) BulkUnsubscribe(ctx context.Context, j SubscriptionJob) Outcome {
	body, err := UnsubscribeBody(j, c.now())
	if err != nil {
		return Outcome{Kind: Permanent, Detail: "not sent: " + err.Error()}
	}
	return c.Post(ctx, PathUnsubscribeBulk, body)
}

// ProfileImport is the create_or_update_profile request: identifiers,
// names, location and a flat properties object. Fields left empty are
// not sent, so Klaviyo leaves them unchanged.
type ProfileImport struct {
	Email       string         `json:"email,omitempty"`
	PhoneNumber string         `json:"phone_number,omitempty"`
	ExternalID  string         `json:"external_id,omitempty"`
	FirstName   string         `json:"first_name,omitempty"`
	LastName    string         `json:"last_name,omitempty"`
	Location    *Location      `json:"location,omitempty"`
	Properties  map[string]any `json:"properties,omitempty"`
}

// ProfileImportBody is the create_or_update_profile request for p.
func ProfileImportBody(p ProfileImport) ([]byte, error) {
	if p.Email == "" && p.PhoneNumber == "" && p.ExternalID == "" {
		return nil, fmt.Errorf("a profile needs an email, phone_number or external_id")
	}
	b, err := json.Marshal(map[string]any{"data": jobResource[ProfileImport]{Type: "profile", Attributes: p}})
	if err == nil && len(b) > 100_000 {
		err = fmt.Errorf("the profile encodes to %d bytes, more than Klaviyo's 100 KB", len(b))
	}
	return b, err
}

// ImportProfile sends p with POST /api/profile-import (200 or 201).
func (c *client) ImportProfile(ctx context.Context, p ProfileImport) Outcome {
	body, err := ProfileImportBody(p)
	if err != nil {
		return Outcome{Kind: Permanent, Detail: "not sent: " + err.Error()}
	}
	return c.Post(ctx, PathProfileImport, body)
}

// DeletionBody is the request_profile_deletion request: exactly one of
// email and phone number (Klaviyo refuses both).
func DeletionBody(email, phone string) ([]byte, error) {
	if (email == "") == (phone == "") {
		return nil, fmt.Errorf("a deletion names exactly one of email and phone_number")
	}
	type ids struct {
		Email       string `json:"email,omitempty"`
		PhoneNumber string `json:"phone_number,omitempty"`
	}
	type attrs struct {
		Profile struct {
			Data jobResource[ids] `json:"data"`
		} `json:"profile"`
	}
	var a attrs
	a.Profile.Data = jobResource[ids]{Type: "profile", Attributes: ids{email, phone}}
	return json.Marshal(map[string]any{"data": jobResource[attrs]{Type: "data-privacy-deletion-job", Attributes: a}})
}

// RequestDeletion asks Klaviyo to delete the profiles of one identifier
// with POST /api/data-privacy-deletion-jobs.
func (c *client) RequestDeletion(ctx context.Context, email, phone string) Outcome {
	body, err := DeletionBody(email, phone)
	if err != nil {
		return Outcome{Kind: Permanent, Detail: "not sent: " + err.Error()}
	}
	return c.Post(ctx, PathProfileDeletion, body)
}

// BackInStock is one back-in-stock request, server side.
type BackInStock struct {
	// VariantID is the catalog variant's Klaviyo id,
	// "$custom:::$default:::<external id>".
	VariantID   string
	Email       string
	PhoneNumber string
	// Channels: "EMAIL" and/or "SMS".
	Channels []string
}

// BackInStockBody is the create_back_in_stock_subscription request.
func BackInStockBody(b BackInStock) ([]byte, error) {
	if b.VariantID == "" {
		return nil, fmt.Errorf("a back-in-stock request needs a variant")
	}
	if b.Email == "" && b.PhoneNumber == "" {
		return nil, fmt.Errorf("a back-in-stock request needs an email or phone_number")
	}
	type ids struct {
		Email       string `json:"email,omitempty"`
		PhoneNumber string `json:"phone_number,omitempty"`
	}
	type attrs struct {
		Channels []string `json:"channels"`
		Profile  struct {
			Data jobResource[ids] `json:"data"`
		} `json:"profile"`
	}
	var a attrs
	a.Channels = b.Channels
	a.Profile.Data = jobResource[ids]{Type: "profile", Attributes: ids{b.Email, b.PhoneNumber}}
	var rel struct {
		Variant struct {
			Data struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"data"`
		} `json:"variant"`
	}
	rel.Variant.Data.Type, rel.Variant.Data.ID = "catalog-variant", b.VariantID
	return json.Marshal(map[string]any{"data": map[string]any{"type": "back-in-stock-subscription", "attributes": a, "relationships": rel}})
}

// CreateBackInStock sends b with POST /api/back-in-stock-subscriptions.
func (c *client) CreateBackInStock(ctx context.Context, b BackInStock) Outcome {
	body, err := BackInStockBody(b)
	if err != nil {
		return Outcome{Kind: Permanent, Detail: "not sent: " + err.Error()}
	}
	return c.Post(ctx, PathBackInStock, body)
}
