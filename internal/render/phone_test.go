package render

import (
	"context"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
)

type phoneCounter map[string]int

func (c phoneCounter) ObservePhonesDropped(source string, n int) { c[source] += n }

func TestIdentifyPhoneNormalised(t *testing.T) {
	counted := phoneCounter{}
	rd := Renderer{DefaultCountry: "GB", Phones: counted}
	tests := []struct {
		name, body, wantIn, notIn string
	}{
		{"national in the default country", `{"customer":{"email":"a@example.com","phone_number":"020 7946 0958"}}`, `"phone_number":"+442079460958"`, ""},
		{"national in the address's country", `{"customer":{"phone_number":"(555) 123-4567","address":{"country_code":"US"}}}`, `"phone_number":"+15551234567"`, ""},
		{"impossible, dropped", `{"customer":{"email":"a@example.com","phone_number":"12"}}`, `"email":"a@example.com"`, "phone_number"},
	}
	for _, tt := range tests {
		res, err := rd.Render(context.Background(), Identify, []byte(tt.body))
		if err != nil || !strings.Contains(string(res.HTML), tt.wantIn) || tt.notIn != "" && strings.Contains(string(res.HTML), tt.notIn) {
			t.Errorf("%s: %v %s", tt.name, err, res.HTML)
		}
	}
	if counted["render"] != 1 {
		t.Errorf("dropped %v, want render: 1", counted)
	}
	_, err := Renderer{}.Render(context.Background(), Identify, []byte(`{"customer":{"phone_number":"5551234567"}}`))
	if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != "customer.phone_number" {
		t.Errorf("national phone as the only identifier without a country: %v", err)
	}
}
