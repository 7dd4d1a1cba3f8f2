package consent

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
)

// BackInStock is a back-in-stock request: a catalog variant and an email
// and/or phone number, with the channels to notify on.
type BackInStock struct {
	VariantID   string    `json:"variant_id"`
	Email       string    `json:"email,omitempty"`
	PhoneNumber string    `json:"phone_number,omitempty"`
	Channels    *Channels `json:"channels,omitempty"`
}

// variantPrefix is how Klaviyo names a custom catalog's variants.
const variantPrefix = "$custom:::$default:::"

// RequestBackInStock checks and stores a back-in-stock request. Without
// channels, the identifiers given choose them. When a catalog is
// configured, the variant must be in it.
func (s *Service) RequestBackInStock(ctx context.Context, b BackInStock) (Accepted, error) {
	id := strings.TrimPrefix(strings.TrimSpace(b.VariantID), variantPrefix)
	if id == "" {
		return Accepted{}, apperr.FieldErrorf("variant_id", "is required (the catalog variant's id)")
	}
	if len(id) > 255 {
		return Accepted{}, apperr.FieldErrorf("variant_id", "must be at most 255 characters")
	}
	email, phone, err := s.normalizeIdentity("", b.Email, b.PhoneNumber)
	if err != nil {
		return Accepted{}, err
	}
	if email == "" && phone == "" {
		return Accepted{}, apperr.FieldErrorf("email", "a back-in-stock request needs an email or a phone_number")
	}
	ch := Channels{Email: email != "", SMS: phone != ""}
	if b.Channels != nil {
		ch = *b.Channels
		if ch.Email && email == "" {
			return Accepted{}, apperr.FieldErrorf("email", "is required for the email channel")
		}
		if ch.SMS && phone == "" {
			return Accepted{}, apperr.FieldErrorf("phone_number", "is required for the sms channel")
		}
		if !ch.Email && !ch.SMS {
			return Accepted{}, apperr.FieldErrorf("channels", "must name at least one channel")
		}
	}
	if s.Variants != nil {
		ok, err := s.Variants(ctx, id)
		if err != nil {
			return Accepted{}, err
		}
		if !ok {
			return Accepted{}, apperr.FieldErrorf("variant_id", "%q is not a variant of the catalog", id)
		}
	}
	req := klaviyo.BackInStock{VariantID: variantPrefix + id}
	if ch.Email {
		req.Email = email
		req.Channels = append(req.Channels, "EMAIL")
	}
	if ch.SMS {
		req.PhoneNumber = phone
		req.Channels = append(req.Channels, "SMS")
	}
	payload, _ := json.Marshal(req)
	n, err := s.Jobs.EnqueueJobs(ctx, []outbox.Job{{Kind: outbox.JobBackInStock, ProfileKey: profileKey(req.Email, req.PhoneNumber, ""), Payload: payload}})
	return Accepted{Jobs: n}, err
}
