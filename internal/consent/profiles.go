package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
)

// Profile is POST /v1/profiles' body: identifiers, names, location and a
// flat properties object.
type Profile struct {
	Email       string            `json:"email,omitempty"`
	PhoneNumber string            `json:"phone_number,omitempty"`
	ExternalID  string            `json:"external_id,omitempty"`
	FirstName   string            `json:"first_name,omitempty"`
	LastName    string            `json:"last_name,omitempty"`
	Location    *klaviyo.Location `json:"location,omitempty"`
	Properties  map[string]any    `json:"properties,omitempty"`
}

// profileKey is the coalescing key: the strongest identifier.
func profileKey(email, phone, external string) string {
	switch {
	case email != "":
		return "email:" + email
	case phone != "":
		return "phone:" + phone
	case external != "":
		return "external:" + external
	}
	return ""
}

// UpsertProfile stores a profile upsert. A pending upsert of the same
// profile is merged with it (later values win, properties key by key), so
// quick edits send the latest state in one request.
func (s *Service) UpsertProfile(ctx context.Context, p Profile) (Accepted, error) {
	email, phone, err := s.normalizeIdentity("", p.Email, p.PhoneNumber)
	if err != nil {
		return Accepted{}, err
	}
	key := profileKey(email, phone, p.ExternalID)
	if key == "" {
		return Accepted{}, apperr.FieldErrorf("email", "a profile needs an email, phone_number or external_id")
	}
	for name, v := range map[string]string{"external_id": p.ExternalID, "first_name": p.FirstName, "last_name": p.LastName} {
		if utf8.RuneCountInString(v) > 255 {
			return Accepted{}, apperr.FieldErrorf(name, "must be at most 255 characters")
		}
	}
	for k, v := range p.Properties {
		switch v.(type) {
		case map[string]any, []any:
			return Accepted{}, apperr.FieldErrorf("properties."+k, "must be a string, number, boolean or null: properties are flat")
		}
	}
	imp := klaviyo.ProfileImport{Email: email, PhoneNumber: phone, ExternalID: p.ExternalID, FirstName: p.FirstName, LastName: p.LastName, Location: p.Location, Properties: p.Properties}
	payload, err := klaviyo.ProfileImportBody(imp)
	if err != nil {
		return Accepted{}, apperr.FieldErrorf("properties", "%v", err)
	}
	payload, _ = json.Marshal(imp)
	n, err := s.Jobs.EnqueueJobs(ctx, []outbox.Job{{Kind: outbox.JobProfile, ProfileKey: key, Payload: payload, Coalesce: key,
		Merge: func(older []byte) ([]byte, error) { return mergeProfile(older, imp) }}})
	return Accepted{Jobs: n}, err
}

// mergeProfile lays newer over the stored older upsert.
func mergeProfile(older []byte, newer klaviyo.ProfileImport) ([]byte, error) {
	var o klaviyo.ProfileImport
	if err := json.Unmarshal(older, &o); err != nil {
		return nil, fmt.Errorf("stored profile upsert: %w", err)
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&o.Email, newer.Email)
	set(&o.PhoneNumber, newer.PhoneNumber)
	set(&o.ExternalID, newer.ExternalID)
	set(&o.FirstName, newer.FirstName)
	set(&o.LastName, newer.LastName)
	if newer.Location != nil {
		o.Location = newer.Location
	}
	if len(newer.Properties) > 0 {
		if o.Properties == nil {
			o.Properties = map[string]any{}
		}
		maps.Copy(o.Properties, newer.Properties)
	}
	return json.Marshal(o)
}

// Person names whom an erasure is about.
type Person struct {
	Email       string `json:"email,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	// given are the identifiers as the request spelled them (events keep
	// the shop's spelling).
	given []string
}

// Needles are the strings under which the person may be stored: each
// identifier as given, normalised, and JSON-escaped.
func (p Person) Needles() []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range append([]string{p.Email, p.PhoneNumber}, p.given...) {
		if v == "" {
			continue
		}
		for _, n := range []string{v, strings.ToLower(v), strings.Trim(mustJSON(v), `"`)} {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// Emails are the person's email as normalised and as given.
func (p Person) Emails() []string { return p.forms(p.Email, "@") }

// Phones are the person's phone number as normalised and as given.
func (p Person) Phones() []string { return p.forms(p.PhoneNumber, "+") }

func (p Person) forms(main, mark string) []string {
	var out []string
	for _, v := range append([]string{main}, p.given...) {
		if v != "" && strings.Contains(v, mark) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Keys are the outbox profile keys of the person.
func (p Person) Keys() []string {
	var out []string
	for _, e := range append([]string{p.Email}, p.given...) {
		if e != "" && strings.Contains(e, "@") {
			out = append(out, "email:"+e)
		}
	}
	if p.PhoneNumber != "" {
		out = append(out, "phone:"+p.PhoneNumber)
	}
	return out
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Eraser removes or anonymises what one part of snippetd holds about a
// person and says how many records it touched.
type Eraser struct {
	// Name labels the count in the answer ("proxy_browsers", ...).
	Name  string
	Erase func(ctx context.Context, p Person) (int64, error)
}

// Erasure is the answer to an erasure request: what was erased where,
// and the Klaviyo deletion jobs stored.
type Erasure struct {
	KlaviyoDeletionJobs int              `json:"klaviyo_deletion_jobs"`
	Erased              map[string]int64 `json:"erased"`
}

// Erase stores Klaviyo's deletion job for each identifier (Klaviyo takes
// one per job) and removes everything the erasers hold about the person.
func (s *Service) Erase(ctx context.Context, p Person) (Erasure, error) {
	email, phone, err := s.normalizeIdentity("", p.Email, p.PhoneNumber)
	if err != nil {
		return Erasure{}, err
	}
	if email == "" && phone == "" {
		return Erasure{}, apperr.FieldErrorf("email", "an erasure names an email and/or a phone_number")
	}
	var jobs []outbox.Job
	if email != "" {
		b, _ := json.Marshal(Person{Email: email})
		jobs = append(jobs, outbox.Job{Kind: outbox.JobErase, ProfileKey: "email:" + email, Payload: b})
	}
	if phone != "" {
		b, _ := json.Marshal(Person{PhoneNumber: phone})
		jobs = append(jobs, outbox.Job{Kind: outbox.JobErase, ProfileKey: "phone:" + phone, Payload: b})
	}
	n, err := s.Jobs.EnqueueJobs(ctx, jobs)
	if err != nil {
		return Erasure{}, err
	}
	who := Person{Email: email, PhoneNumber: phone, given: []string{strings.TrimSpace(p.Email), strings.TrimSpace(p.PhoneNumber)}}
	out := Erasure{KlaviyoDeletionJobs: n, Erased: map[string]int64{}}
	erase := func(ctx context.Context) error {
		for _, e := range s.Erasers {
			c, err := e.Erase(ctx, who)
			if err != nil {
				return fmt.Errorf("erase %s: %w", e.Name, err)
			}
			out.Erased[e.Name] += c
		}
		return nil
	}
	if s.Scrub != nil {
		err = s.Scrub(ctx, erase)
	} else {
		err = erase(ctx)
	}
	if err != nil {
		return out, err
	}
	return out, nil
}

// OutboxEraser erases the person's stored events and jobs.
func OutboxEraser(o *outbox.Outbox) Eraser {
	return Eraser{Name: "outbox", Erase: func(ctx context.Context, p Person) (int64, error) {
		er, err := o.EraseProfile(ctx, p.Keys(), p.Needles())
		return er.Events + er.Jobs, err
	}}
}
