package klaviyotest

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/snippetd/snippetd/shop"
)

// Consent, profile and back-in-stock endpoints.
const (
	PathSubscribeBulk       = "/api/profile-subscription-bulk-create-jobs"
	PathUnsubscribeBulk     = "/api/profile-subscription-bulk-delete-jobs"
	PathProfileImport       = "/api/profile-import"
	PathProfileDeletion     = "/api/data-privacy-deletion-jobs"
	PathBackInStock         = "/api/back-in-stock-subscriptions"
	PathClientSubscriptions = "/client/subscriptions"
)

// The operations' x-klaviyo-ratelimit.
func init() {
	DefaultLimits[PathSubscribeBulk] = Limits{75, 750}
	DefaultLimits[PathUnsubscribeBulk] = Limits{75, 750}
	DefaultLimits[PathProfileImport] = Limits{75, 750}
	DefaultLimits[PathProfileDeletion] = Limits{3, 60}
	DefaultLimits[PathBackInStock] = Limits{350, 3500}
	DefaultLimits[PathClientSubscriptions] = Limits{350, 750}
}

// SubscriptionJob is one accepted bulk subscribe or unsubscribe job, or
// one client subscription.
type SubscriptionJob struct {
	// Path is the endpoint (PathSubscribeBulk, PathUnsubscribeBulk or
	// PathClientSubscriptions).
	Path             string
	ListID           string
	Source           string
	HistoricalImport bool
	Profiles         []SubscribedProfile
	// Request is the index of the request in Requests().
	Request int
}

// SubscribedProfile is one profile of a job.
type SubscribedProfile struct {
	Email       string
	PhoneNumber string
	// Email and SMS say which channels the entry names.
	EmailChannel, SMSChannel bool
	ConsentedAt              string
}

// ConsentRecord is one accepted profile import, deletion job or
// back-in-stock request: its path and decoded attributes.
type ConsentRecord struct {
	Path       string
	Attributes map[string]any
	// VariantID is the back-in-stock request's variant.
	VariantID string
	Request   int
}

type consentState struct {
	jobs    []SubscriptionJob
	records []ConsentRecord
}

// SubscriptionJobs returns the accepted subscribe and unsubscribe jobs
// (and client subscriptions), in order.
func (s *Server) SubscriptionJobs() []SubscriptionJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SubscriptionJob(nil), s.consent.jobs...)
}

// ConsentRecords returns the accepted profile imports, deletion jobs and
// back-in-stock requests, in order.
func (s *Server) ConsentRecords() []ConsentRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ConsentRecord(nil), s.consent.records...)
}

// consentRoute matches the consent endpoints.
func (s *Server) consentRoute(m, p string) (route, bool) {
	if m != http.MethodPost {
		return route{}, false
	}
	switch p {
	case PathSubscribeBulk:
		return route{limitKey: p, schema: SliceSubscribeBulk, handle: (*Server).handleSubscribeBulk}, true
	case PathUnsubscribeBulk:
		return route{limitKey: p, schema: SliceUnsubscribeBulk, handle: (*Server).handleUnsubscribeBulk}, true
	case PathProfileImport:
		return route{limitKey: p, schema: SliceProfileImport, handle: (*Server).handleProfileImport}, true
	case PathProfileDeletion:
		return route{limitKey: p, schema: SliceProfileDeletion, handle: (*Server).handleProfileDeletion}, true
	case PathBackInStock:
		return route{limitKey: p, schema: SliceBackInStock, handle: (*Server).handleBackInStock}, true
	case PathClientSubscriptions:
		return route{client: true, limitKey: p, schema: SliceClientSubscription, handle: (*Server).handleClientSubscription}, true
	}
	return route{}, false
}

var fakeListIDRE = regexp.MustCompile(`^[A-Za-z0-9]{6}$`)

// subscriptionEntries checks a job's profiles: 1 to max, each with the
// identifier its channels need (an E.164 phone for SMS), and with
// historical_import a consented_at in the past.
func (s *Server) subscriptionEntries(c *call, max int, historical bool) ([]SubscribedProfile, *reply) {
	const ptr = "/data/attributes/profiles/data"
	entries := list(obj(c.doc, "data", "attributes", "profiles"), "data")
	if len(entries) == 0 || len(entries) > max {
		r := s.invalid(fmt.Sprintf("profiles must hold 1 to %d profiles, not %d", max, len(entries)), ptr)
		return nil, &r
	}
	var out []SubscribedProfile
	for i, e := range entries {
		p := fmt.Sprintf("%s/%d/attributes", ptr, i)
		attrs := obj(e, "attributes")
		subs := obj(attrs, "subscriptions")
		sp := SubscribedProfile{Email: str(attrs, "email"), PhoneNumber: str(attrs, "phone_number")}
		_, sp.EmailChannel = subs["email"]
		_, sp.SMSChannel = subs["sms"]
		if !sp.EmailChannel && !sp.SMSChannel {
			r := s.invalid("subscriptions must name the email or sms channel", p+"/subscriptions")
			return nil, &r
		}
		if sp.EmailChannel && strings.TrimSpace(sp.Email) == "" {
			r := s.invalid("an email subscription needs an email", p+"/email")
			return nil, &r
		}
		if sp.SMSChannel && sp.PhoneNumber == "" {
			r := s.invalid("an SMS subscription needs a phone_number", p+"/phone_number")
			return nil, &r
		}
		if sp.PhoneNumber != "" && !shop.IsE164(sp.PhoneNumber) {
			r := s.invalid("Invalid phone number format (Example of a valid format: +12345678901)", p+"/phone_number")
			return nil, &r
		}
		for _, ch := range []string{"email", "sms"} {
			at := str(obj(subs, ch, "marketing"), "consented_at")
			if at != "" {
				sp.ConsentedAt = at
			}
			if historical && obj(subs, ch) != nil {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil || !t.Before(s.now()) {
					r := s.invalid("historical_import requires consented_at in the past", p+"/subscriptions/"+ch+"/marketing/consented_at")
					return nil, &r
				}
			}
		}
		out = append(out, sp)
	}
	return out, nil
}

func (s *Server) listID(c *call) (string, *reply) {
	id := str(obj(c.doc, "data", "relationships", "list", "data"), "id")
	if id != "" && !fakeListIDRE.MatchString(id) {
		r := s.errReply(404, "not_found", "Not found.", fmt.Sprintf("List %q does not exist", id), "/data/relationships/list/data/id", "")
		return "", &r
	}
	return id, nil
}

func (s *Server) handleSubscribeBulk(c *call) reply {
	attrs := obj(c.doc, "data", "attributes")
	historical, _ := attrs["historical_import"].(bool)
	listID, bad := s.listID(c)
	if bad != nil {
		return *bad
	}
	profiles, bad := s.subscriptionEntries(c, 1000, historical)
	if bad != nil {
		return *bad
	}
	job := SubscriptionJob{Path: PathSubscribeBulk, ListID: listID, Source: str(attrs, "custom_source"), HistoricalImport: historical, Profiles: profiles, Request: c.idx}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() { s.consent.jobs = append(s.consent.jobs, job); c.st.Events += len(profiles) }
	return rep
}

func (s *Server) handleUnsubscribeBulk(c *call) reply {
	listID, bad := s.listID(c)
	if bad != nil {
		return *bad
	}
	profiles, bad := s.subscriptionEntries(c, 100, false)
	if bad != nil {
		return *bad
	}
	job := SubscriptionJob{Path: PathUnsubscribeBulk, ListID: listID, Profiles: profiles, Request: c.idx}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() { s.consent.jobs = append(s.consent.jobs, job); c.st.Events += len(profiles) }
	return rep
}

func (s *Server) handleClientSubscription(c *call) reply {
	attrs := obj(c.doc, "data", "attributes")
	pattrs := obj(attrs, "profile", "data", "attributes")
	sp := SubscribedProfile{Email: str(pattrs, "email"), PhoneNumber: str(pattrs, "phone_number")}
	if sp.Email == "" && sp.PhoneNumber == "" {
		return s.invalid("One of email or phone_number is required", "/data/attributes/profile/data/attributes")
	}
	if r := s.badPhone(pattrs, "/data/attributes/profile/data/attributes"); r != nil {
		return *r
	}
	subs := obj(pattrs, "subscriptions")
	_, sp.EmailChannel = subs["email"]
	_, sp.SMSChannel = subs["sms"]
	if subs == nil {
		sp.EmailChannel, sp.SMSChannel = sp.Email != "", sp.PhoneNumber != ""
	}
	listID := str(obj(c.doc, "data", "relationships", "list", "data"), "id")
	if listID != "" && !fakeListIDRE.MatchString(listID) {
		return s.errReply(404, "not_found", "Not found.", fmt.Sprintf("List %q does not exist", listID), "/data/relationships/list/data/id", "")
	}
	job := SubscriptionJob{Path: PathClientSubscriptions, ListID: listID, Source: str(attrs, "custom_source"), Profiles: []SubscribedProfile{sp}, Request: c.idx}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() { s.consent.jobs = append(s.consent.jobs, job); c.st.Events++ }
	return rep
}

func (s *Server) handleProfileImport(c *call) reply {
	data := obj(c.doc, "data")
	attrs := obj(data, "attributes")
	if len(c.body) > 100_000 {
		return s.errReply(413, "payload_too_large", "Payload too large.", "the maximum payload size is 100KB", "", "")
	}
	if str(attrs, "email") == "" && str(attrs, "phone_number") == "" && str(attrs, "external_id") == "" && str(data, "id") == "" {
		return s.invalid("One of the following profile identifiers is required: id, email, phone_number, external_id", "/data/attributes")
	}
	if r := s.badPhone(attrs, "/data/attributes"); r != nil {
		return *r
	}
	rec := ConsentRecord{Path: PathProfileImport, Attributes: attrs, Request: c.idx}
	rep := jsonReply(http.StatusOK, map[string]any{"data": map[string]any{"type": "profile", "id": s.nextID(), "attributes": attrs}})
	rep.commit = func() { s.consent.records = append(s.consent.records, rec); c.st.Events++ }
	return rep
}

func (s *Server) handleProfileDeletion(c *call) reply {
	pdata := obj(c.doc, "data", "attributes", "profile", "data")
	attrs := obj(pdata, "attributes")
	n := 0
	for _, v := range []string{str(attrs, "email"), str(attrs, "phone_number"), str(pdata, "id")} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return s.invalid("Exactly one of email, phone_number or id is required", "/data/attributes/profile/data")
	}
	rec := ConsentRecord{Path: PathProfileDeletion, Attributes: attrs, Request: c.idx}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() { s.consent.records = append(s.consent.records, rec); c.st.Events++ }
	return rep
}

func (s *Server) handleBackInStock(c *call) reply {
	data := obj(c.doc, "data")
	attrs := obj(data, "attributes")
	variant := str(obj(data, "relationships", "variant", "data"), "id")
	if !strings.HasPrefix(variant, "$custom:::$default:::") || len(variant) == len("$custom:::$default:::") {
		return s.invalid("variant id must look like $custom:::$default:::<id>", "/data/relationships/variant/data/id")
	}
	channels := list(attrs, "channels")
	if len(channels) == 0 {
		return s.invalid("channels must name at least one channel", "/data/attributes/channels")
	}
	pattrs := obj(attrs, "profile", "data", "attributes")
	for _, ch := range channels {
		switch ch {
		case "EMAIL":
			if str(pattrs, "email") == "" {
				return s.invalid("the EMAIL channel needs an email", "/data/attributes/profile/data/attributes/email")
			}
		case "SMS":
			if str(pattrs, "phone_number") == "" {
				return s.invalid("the SMS channel needs a phone_number", "/data/attributes/profile/data/attributes/phone_number")
			}
		}
	}
	if r := s.badPhone(pattrs, "/data/attributes/profile/data/attributes"); r != nil {
		return *r
	}
	rec := ConsentRecord{Path: PathBackInStock, Attributes: attrs, VariantID: variant, Request: c.idx}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() { s.consent.records = append(s.consent.records, rec); c.st.Events++ }
	return rep
}
