package snippets

import (
	"encoding/base64"
	"strings"
)

// validateHelper checks the browser helper options; errors name the
// render API's fields.
func (o LoaderOptions) validateHelper() error {
	if o.HelperSrc == "" {
		switch {
		case o.ConsentRequired:
			return fieldErrorf("consent_required", "needs the browser helper (helper_src), which loads klaviyo.js on consent")
		case o.ProxyEndpoint != "":
			return fieldErrorf("proxy_endpoint", "needs the browser helper (helper_src), which sends to the proxy")
		}
		return nil
	}
	if !validScriptURL(o.HelperSrc) {
		return fieldErrorf("helper_src", "must be an absolute http(s) URL or a path starting with /")
	}
	if o.HelperIntegrity != "" && !validIntegrity(o.HelperIntegrity) {
		return fieldErrorf("helper_integrity", "must be an SRI hash such as sha384-<base64>")
	}
	if o.ProxyEndpoint != "" && !validScriptURL(o.ProxyEndpoint) {
		return fieldErrorf("proxy_endpoint", "must be an absolute http(s) URL or a path starting with /")
	}
	// A list id has the form of a public key: six letters and digits.
	if o.SignupListID != "" && !ValidPublicKey(o.SignupListID) {
		return fieldErrorf("signup_list_id", "must be a Klaviyo list id (six letters and digits)")
	}
	return nil
}

// validIntegrity accepts one "sha256-", "sha384-" or "sha512-" hash of
// the right length in standard base64.
func validIntegrity(s string) bool {
	alg, digest, ok := strings.Cut(s, "-")
	size := map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}[alg]
	if !ok || size == 0 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(digest)
	return err == nil && len(b) == size
}
