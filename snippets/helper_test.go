package snippets

import (
	"errors"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/shop"
)

const testIntegrity = "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC"

func TestLoaderWithHelperGolden(t *testing.T) {
	tests := []struct {
		name string
		o    LoaderOptions
	}{
		{"loader-helper", LoaderOptions{PublicKey: "AbC123", HelperSrc: "/assets/helper.0123456789abcdef.js", HelperIntegrity: testIntegrity}},
		{"loader-helper-consent-proxy", LoaderOptions{
			PublicKey: "AbC123", HelperSrc: "/assets/helper.0123456789abcdef.js", HelperIntegrity: testIntegrity,
			ConsentRequired: true, ProxyEndpoint: "/kp/",
			CheckoutEmailSelector: "#email", CheckoutPhoneSelector: `input[name="phone"]`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, Loader(tt.o), "r4nd0m")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name, got)
		})
	}
}

// With consent required the page must not load klaviyo.js by itself: the
// helper gets its URL and loads it on consent.
func TestLoaderConsentLeavesKlaviyoOut(t *testing.T) {
	o := LoaderOptions{PublicKey: "AbC123", HelperSrc: "/h.js", ConsentRequired: true}
	got, err := render(t, Loader(o), "")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(got, o.ScriptURL()); n != 1 || !strings.Contains(got, `data-klaviyo="`+o.ScriptURL()+`"`) {
		t.Errorf("klaviyo.js URL appears %d times, want once as data-klaviyo:\n%s", n, got)
	}
	o.ConsentRequired = false
	got, _ = render(t, Loader(o), "")
	if !strings.Contains(got, `<script async src="`+o.ScriptURL()+`"`) || strings.Contains(got, "data-klaviyo") {
		t.Errorf("without consent klaviyo.js must load directly:\n%s", got)
	}
}

func TestLoaderHelperValidation(t *testing.T) {
	tests := []struct {
		name  string
		o     LoaderOptions
		field string
	}{
		{"consent without helper", LoaderOptions{PublicKey: "AbC123", ConsentRequired: true}, "consent_required"},
		{"proxy without helper", LoaderOptions{PublicKey: "AbC123", ProxyEndpoint: "/kp/"}, "proxy_endpoint"},
		{"helper src scheme", LoaderOptions{PublicKey: "AbC123", HelperSrc: "javascript:alert(1)"}, "helper_src"},
		{"helper src protocol-relative", LoaderOptions{PublicKey: "AbC123", HelperSrc: "//evil.example/h.js"}, "helper_src"},
		{"integrity algorithm", LoaderOptions{PublicKey: "AbC123", HelperSrc: "/h.js", HelperIntegrity: "md5-AAAA"}, "helper_integrity"},
		{"integrity length", LoaderOptions{PublicKey: "AbC123", HelperSrc: "/h.js", HelperIntegrity: "sha384-AAAA"}, "helper_integrity"},
		{"proxy endpoint", LoaderOptions{PublicKey: "AbC123", HelperSrc: "/h.js", ProxyEndpoint: "kp/"}, "proxy_endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			var e *shop.FieldError
			if !errors.As(err, &e) || e.Field != tt.field {
				t.Fatalf("Validate() = %v, want an invalid error on %q", err, tt.field)
			}
			if _, rerr := render(t, Loader(tt.o), ""); rerr == nil {
				t.Error("Loader rendered despite the error")
			}
		})
	}
	ok := LoaderOptions{PublicKey: "AbC123", HelperSrc: "https://cdn.example/h.js", HelperIntegrity: testIntegrity, ProxyEndpoint: "/kp/"}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
}
