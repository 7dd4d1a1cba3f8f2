package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// checkURL checks a URL a browser sent: it ends up as a link in the shop's
// emails (a product link, an image, the abandoned-checkout button), so only
// absolute http(s) URLs are taken, and a checkout URL only on one of the
// shop's allowed origins. Backslashes, control characters and spaces are
// refused outright: a browser or mail client reads them differently from
// net/url (a backslash as a slash, tabs and newlines dropped).
func (v *Validator) checkURL(s, field string, checkout bool) error {
	if s == "" {
		return nil
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r == '\\' || r <= ' ' || r == 0x7f }) {
		return apperr.FieldErrorf(field, "must be an absolute http(s) URL without spaces, backslashes or control characters")
	}
	u, err := url.Parse(s)
	if err != nil || (!strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http")) || u.Host == "" || u.Opaque != "" {
		return apperr.FieldErrorf(field, "must be an absolute http(s) URL")
	}
	if checkout && v.checkoutOrigins != nil && !v.checkoutOrigins[NormalizeOrigin(s)] {
		return apperr.FieldErrorf(field, "must be on one of the shop's allowed origins (SNIPPETD_ALLOWED_ORIGINS)")
	}
	return nil
}

// checkProductURLs checks the URLs of a product input.
func (v *Validator) checkProductURLs(p shop.Product, field string) error {
	if err := v.checkURL(p.URL, field+".url", false); err != nil {
		return err
	}
	return v.checkURL(p.ImageURL, field+".image_url", false)
}

// checkCartURLs checks the URLs of a cart input.
func (v *Validator) checkCartURLs(c shop.Cart, field string) error {
	if err := v.checkURL(c.CheckoutURL, field+".checkout_url", true); err != nil {
		return err
	}
	for i, l := range c.Items {
		if err := v.checkProductURLs(l.Product, fmt.Sprintf("%s.items[%d].product", field, i)); err != nil {
			return err
		}
	}
	return nil
}

// mayHoldURLOrValue is a quick test on compact properties: only those with
// a key ending in URL (any case) or a $value key are decoded again.
func mayHoldURLOrValue(props []byte) bool {
	return bytes.Contains(props, []byte(`$value"`)) || bytes.Contains(bytes.ToLower(props), []byte(`url":`))
}

// checkProperties applies to a browser's own properties the rules the
// input form gets from its types: every string under a key ending in
// "url" (any case: URL, ImageURL, ProductURL, Url, ...) is a URL that
// checkURL accepts, a checkout URL (CheckoutURL) is on an allowed origin,
// and $value, which Klaviyo reads as the event value, is bounded as value
// is.
func (v *Validator) checkProperties(props json.RawMessage, field string) error {
	if !mayHoldURLOrValue(props) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(props))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return apperr.FieldErrorf(field, "is not valid JSON")
	}
	if raw, ok := obj["$value"]; ok {
		n, isNum := raw.(json.Number)
		if !isNum {
			return apperr.FieldErrorf(field+".$value", "must be a number such as 29.98")
		}
		m, err := parseValue([]byte(n.String()))
		if err != nil {
			return apperr.FieldErrorf(field+".$value", "%s", err.Error())
		}
		if err := v.checkValue(m, field+".$value"); err != nil {
			return err
		}
	}
	return v.checkPropertyURLs(obj, field)
}

func (v *Validator) checkPropertyURLs(val any, field string) error {
	switch x := val.(type) {
	case map[string]any:
		for k, c := range x {
			sub := field + "." + truncate(k, 64)
			if s, ok := c.(string); ok {
				lk := strings.ToLower(k)
				if strings.HasSuffix(lk, "url") {
					if err := v.checkURL(s, sub, lk == "checkouturl" || lk == "checkout_url"); err != nil {
						return err
					}
				}
				continue
			}
			if err := v.checkPropertyURLs(c, sub); err != nil {
				return err
			}
		}
	case []any:
		for i, c := range x {
			if err := v.checkPropertyURLs(c, fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	}
	return nil
}
