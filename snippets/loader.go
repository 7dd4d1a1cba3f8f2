package snippets

import (
	"net/url"
	"strings"
)

// LoaderOptions configures the Loader partial. Later features add fields
// here (the browser helper script, consent, proxy mode) so that every caller
// keeps one call.
type LoaderOptions struct {
	// PublicKey is the Klaviyo public key (site id): six ASCII letters or
	// digits. Required unless KlaviyoJSURL is set.
	PublicKey string
	// KlaviyoJSURL, when set, replaces the default
	// https://static.klaviyo.com/onsite/js/<PublicKey>/klaviyo.js, for
	// example with a first-party proxy path. It must be an absolute http(s)
	// URL or a path starting with "/".
	KlaviyoJSURL string

	// Browser helper (web/helper): the script element after the loader.
	// Take Src and Integrity from the web.Bundle whose Features match
	// ConsentRequired and ProxyEndpoint (web.Helpers.Get).

	// HelperSrc is the helper's URL (web.Bundle.Path, on this origin or a
	// CDN); empty leaves the helper out.
	HelperSrc string
	// HelperIntegrity is the SRI value (web.Bundle.Integrity) written as
	// integrity= with crossorigin="anonymous".
	HelperIntegrity string
	// ConsentRequired leaves klaviyo.js out of the page: the helper holds
	// every call and loads klaviyo.js only on snippetd.consent(true).
	// Needs the consent build of the helper.
	ConsentRequired bool
	// ProxyEndpoint is the first-party endpoint prefix (such as "/kp/")
	// the helper posts events ({prefix}e) and identify ({prefix}i) to
	// instead of klaviyo.js. Needs the proxy build of the helper.
	ProxyEndpoint string
	// CheckoutEmailSelector and CheckoutPhoneSelector override the inputs
	// the helper watches on a checkout page (defaults: input[type=email],
	// input[autocomplete=email]; input[type=tel], input[autocomplete=tel]).
	CheckoutEmailSelector, CheckoutPhoneSelector string
	// CheckoutOffersSelector names the checkout's "email me offers"
	// checkbox: while it is ticked the helper subscribes the checkout's
	// email (through the proxy's {prefix}subscribe in proxy mode, else
	// Klaviyo's client endpoint with SignupListID). Empty: no such box.
	CheckoutOffersSelector string
	// SignupListID is the Klaviyo list that signups (the helper's
	// data-snippetd-subscribe forms, the offers box) join without the
	// proxy; a form's own "list" overrides it. Proxy mode ignores it: the
	// server's configured lists are used.
	SignupListID string
}

// Validate checks the options; errors name the render API's fields
// ("public_key", "klaviyo_js_url").
func (o LoaderOptions) Validate() error {
	if o.KlaviyoJSURL != "" {
		if !validScriptURL(o.KlaviyoJSURL) {
			return fieldErrorf("klaviyo_js_url", "must be an absolute http(s) URL or a path starting with /")
		}
	} else if o.PublicKey == "" {
		return fieldErrorf("public_key", "is required (no default public key is configured)")
	}
	if o.PublicKey != "" && !ValidPublicKey(o.PublicKey) {
		return fieldErrorf("public_key", "must be Klaviyo's 6-character public key (letters and digits)")
	}
	return o.validateHelper()
}

// ScriptURL is the klaviyo.js URL the loader writes.
func (o LoaderOptions) ScriptURL() string {
	if o.KlaviyoJSURL != "" {
		return o.KlaviyoJSURL
	}
	return "https://static.klaviyo.com/onsite/js/" + o.PublicKey + "/klaviyo.js"
}

// ValidPublicKey reports whether k looks like a Klaviyo public key: six
// ASCII letters or digits. Anything else could not be a key and must not
// reach a script URL.
func ValidPublicKey(k string) bool {
	if len(k) != 6 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validScriptURL accepts an absolute http(s) URL or a path on this origin.
// Browsers parse URLs more loosely than net/url: they drop tabs and
// newlines anywhere and read a backslash as a slash, so "/\\evil.example/x.js"
// or "/\t/evil.example" is a protocol-relative URL to another host there
// while net/url sees a path. Any backslash, control character or space is
// therefore refused outright, and a path must not start with two slashes.
func validScriptURL(s string) bool {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r == '\\' || r <= ' ' || r == 0x7f }) {
		return false
	}
	if strings.HasPrefix(s, "/") {
		if strings.HasPrefix(s, "//") {
			return false
		}
		u, err := url.Parse(s)
		return err == nil && u.Scheme == "" && u.Host == ""
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.Opaque == ""
}
