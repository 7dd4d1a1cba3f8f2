package proxy

import (
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
)

func TestIdentifyPhoneNormalised(t *testing.T) {
	v := NewValidator(nil, EventLimits{})
	for body, want := range map[string]string{
		`{"phone_number":"+1 (500) 555-0006"}`:                     "+15005550006",
		`{"phone_number":"+44 20 7946 0958","email":"a@b.co"}`:     "+442079460958",
		`{"phone_number":"020 7946 0958","email":"a@b.co"}`:        "", // national, no country: left out
		`{"profile":{"phone_number":"5551234","external_id":"x"}}`: "",
	} {
		id, err := v.DecodeIdentify([]byte(body))
		if err != nil || id.PhoneNumber != want {
			t.Errorf("%s: %q, %v; want %q", body, id.PhoneNumber, err, want)
		}
	}
	_, err := v.DecodeIdentify([]byte(`{"phone_number":"020 7946 0958"}`))
	if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != "phone_number" {
		t.Errorf("national phone as the only identifier: %v", err)
	}
}
