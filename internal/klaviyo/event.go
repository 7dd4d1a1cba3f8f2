// Package klaviyo is snippetd's client for Klaviyo's server-side APIs
// (create event, bulk create events, catalog jobs): the current JSON:API
// shapes, the private key, rate limiting, and a classification of every
// outcome that the outbox uses to decide between done, retry and dead
// letter. It imports shop for exact money and nothing else of the project.
package klaviyo

import (
	"encoding/json"
	"time"

	"github.com/snippetd/snippetd/shop"
)

// Event is one event for Klaviyo's create-event API. Properties is the
// already-encoded JSON object of event properties, so that exact numbers and
// key order survive until it is encoded for Klaviyo.
type Event struct {
	Metric     string          `json:"metric"`
	Profile    Profile         `json:"profile"`
	Properties json.RawMessage `json:"properties"`
	// Time is when the event happened; zero means "when Klaviyo receives it".
	Time time.Time `json:"time,omitzero"`
	// Value is the monetary value (revenue) of the event, if any.
	Value         shop.Money `json:"value,omitzero"`
	ValueCurrency string     `json:"value_currency,omitempty"`
	// UniqueID makes the event idempotent per (profile, metric).
	UniqueID string `json:"unique_id,omitempty"`
	// Backfill records the event without triggering flows (historical data).
	Backfill bool `json:"backfill,omitzero"`
}

// Profile identifies (and optionally updates) the profile an event belongs
// to. At least one of Email, PhoneNumber, ExternalID, Kx and AnonymousID
// must be set.
type Profile struct {
	Email       string `json:"email,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	ExternalID  string `json:"external_id,omitempty"`
	// Kx is the exchange id (`_kx`) from the __kla_id cookie's $exchange_id
	// or a _kx landing-page parameter.
	Kx          string    `json:"_kx,omitempty"`
	AnonymousID string    `json:"anonymous_id,omitempty"`
	FirstName   string    `json:"first_name,omitempty"`
	LastName    string    `json:"last_name,omitempty"`
	Location    *Location `json:"location,omitempty"`
	// Properties are the profile's custom properties: a flat JSON
	// object, validated by whoever took it in (shop.ProfileProperties).
	Properties json.RawMessage `json:"properties,omitempty"`
}

// Location is a profile's location as Klaviyo stores it.
type Location struct {
	Address1 string `json:"address1,omitempty"`
	Address2 string `json:"address2,omitempty"`
	City     string `json:"city,omitempty"`
	Country  string `json:"country,omitempty"`
	Region   string `json:"region,omitempty"`
	Zip      string `json:"zip,omitempty"`
	IP       string `json:"ip,omitempty"`
}

// HasIdentifier reports whether p carries at least one identifier Klaviyo
// accepts.
func (p Profile) HasIdentifier() bool {
	return p.Email != "" || p.PhoneNumber != "" || p.ExternalID != "" || p.Kx != "" || p.AnonymousID != ""
}

// Key returns the identifier that groups a profile's events (for ordering
// and bulk grouping): the strongest identifier present, prefixed with its
// kind.
func (p Profile) Key() string {
	switch {
	case p.Email != "":
		return "email:" + p.Email
	case p.PhoneNumber != "":
		return "phone:" + p.PhoneNumber
	case p.ExternalID != "":
		return "external:" + p.ExternalID
	case p.Kx != "":
		return "kx:" + p.Kx
	}
	return "anon:" + p.AnonymousID
}
