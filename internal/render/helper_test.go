package render

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/web"
)

func TestLoaderWithHelper(t *testing.T) {
	h, err := web.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	rd := Renderer{PublicKey: "AbC123", Helpers: h}
	tests := []struct {
		body     string
		features web.Features
		base     string
		want     []string
	}{
		{`{"helper":true}`, web.Features{}, "", nil},
		{`{"helper":true,"consent_required":true}`, web.Features{Consent: true}, "", []string{`data-klaviyo="https://static.klaviyo.com/onsite/js/AbC123/klaviyo.js"`}},
		{`{"helper":true,"proxy_endpoint":"/s/","helper_base":"https://cdn.example/"}`, web.Features{Proxy: true}, "https://cdn.example", []string{`data-proxy="/s/"`}},
		{`{"helper":true,"consent_required":true,"proxy_endpoint":"/s/","checkout_email_selector":"#email"}`, web.Features{Consent: true, Proxy: true}, "", []string{`data-email="#email"`}},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			res, err := rd.Render(context.Background(), Loader, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			b := h.Get(tt.features)
			for _, want := range append(tt.want, `src="`+tt.base+b.Path+`"`, `integrity="`+b.Integrity+`"`) {
				if !strings.Contains(string(res.HTML), want) {
					t.Errorf("partial lacks %s:\n%s", want, res.HTML)
				}
			}
		})
	}
}

func TestLoaderHelperErrors(t *testing.T) {
	h, err := web.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	rd := Renderer{PublicKey: "AbC123", Helpers: h}
	for body, field := range map[string]string{
		`{"helper_base":"https://cdn.example"}`:            "helper_base",
		`{"consent_required":true}`:                        "consent_required",
		`{"proxy_endpoint":"/s/"}`:                         "proxy_endpoint",
		`{"helper":true,"proxy_endpoint":"javascript:x"}`:  "proxy_endpoint",
		`{"helper":true,"helper_base":"javascript:alert"}`: "helper_src",
	} {
		_, err := rd.Render(context.Background(), Loader, []byte(body))
		var e *apperr.Error
		if !errors.As(err, &e) || e.Code != apperr.EINVALID || e.Field != field {
			t.Errorf("%s: error %v, want invalid %s", body, err, field)
		}
	}
}
