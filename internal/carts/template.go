package carts

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/snippetd/snippetd/shop"
)

// Template is the shop's restore URL with placeholders, such as
// https://shop.example/cart/restore?items={items}&cart={cart_id}. Its
// scheme and host are fixed when it is parsed: every value put in is
// percent-encoded, so no cart, token or request can change where the
// redirect goes.
type Template struct {
	parts    []part // before the fragment
	fragment string // "#..." or ""
	hasQuery bool   // the part before the fragment has a '?'
	home     string // scheme://host/, the shop's home for the error page
}

type part struct {
	lit, name string // one of the two is set
}

// Placeholders a template may use.
var placeholders = []string{"items", "cart_id", "token"}

// ParseTemplate checks a restore URL template: an absolute http(s) URL
// whose scheme and host hold no placeholder, using at least one of
// {items}, {cart_id} and {token} and no other.
func ParseTemplate(s string) (*Template, error) {
	probe := s
	for _, p := range placeholders {
		probe = strings.ReplaceAll(probe, "{"+p+"}", "x")
	}
	u, err := url.Parse(probe)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%q: want an absolute http(s) URL such as https://shop.example/cart/restore?items={items}", s)
	}
	if strings.ContainsAny(probe, "{} \t\r\n\"<>\\^`|") {
		return nil, fmt.Errorf("%q: only {items}, {cart_id} and {token} may be put in, and no spaces or quotes", s)
	}
	if probe == s {
		return nil, fmt.Errorf("%q: use at least one of {items}, {cart_id}, {token}", s)
	}
	// The host must be literal: the first placeholder comes after the
	// scheme://host part.
	auth := len(u.Scheme) + len("://") + len(u.Host)
	if i := strings.IndexByte(s, '{'); i < auth {
		return nil, fmt.Errorf("%q: the scheme and host must be written out, not put in", s)
	}
	t := &Template{home: u.Scheme + "://" + u.Host + "/"}
	head := s
	if i := strings.IndexByte(s, '#'); i >= 0 {
		head, t.fragment = s[:i], s[i:]
		if strings.Contains(t.fragment, "{") {
			return nil, fmt.Errorf("%q: placeholders cannot be in the fragment", s)
		}
	}
	t.hasQuery = strings.Contains(head, "?")
	for head != "" {
		i := strings.IndexByte(head, '{')
		if i < 0 {
			t.parts = append(t.parts, part{lit: head})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: head[:i]})
		}
		j := strings.IndexByte(head, '}')
		t.parts = append(t.parts, part{name: head[i+1 : j]})
		head = head[j+1:]
	}
	return t, nil
}

// Home is the shop's home page: the template's scheme and host.
func (t *Template) Home() string { return t.home }

// Expand writes the restore URL of a cart version: {items} is
// "id:quantity" pairs joined by ",", each id percent-encoded so that it
// may hold ",", ":" or anything else, and the whole value percent-encoded
// again for its place in the URL (so a framework that decodes the query
// parameter once gets "a%26b:1,mug:2" for ids "a&b" and "mug"); {cart_id}
// is the id percent-encoded once; {token} is the token. query, the raw
// query string of the email link (UTM parameters, _kx), is appended, any
// character not allowed in a query percent-encoded.
func (t *Template) Expand(cartID string, items []shop.LineItem, token, query string) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.name {
		case "":
			b.WriteString(p.lit)
		case "items":
			for i, l := range items {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(escape(escape(l.Product.ID)))
				b.WriteByte(':')
				b.WriteString(strconv.FormatInt(l.Quantity, 10))
			}
		case "cart_id":
			b.WriteString(escape(cartID))
		case "token":
			b.WriteString(token)
		}
	}
	if query = cleanQuery(query); query != "" {
		if t.hasQuery {
			b.WriteByte('&')
		} else {
			b.WriteByte('?')
		}
		b.WriteString(query)
	}
	b.WriteString(t.fragment)
	return b.String()
}

// MaxQuery caps the carried-over query string of an email link.
const MaxQuery = 2048

const hexDigits = "0123456789ABCDEF"

// escape percent-encodes every byte but RFC 3986's unreserved characters,
// which is safe in a path segment and in a query value alike.
func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// cleanQuery keeps a raw query string as sent, percent-encoding what a
// query may not hold (a '%' not starting an escape, spaces, quotes,
// non-ASCII); it drops one longer than MaxQuery.
func cleanQuery(q string) string {
	if q == "" || len(q) > MaxQuery {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case unreserved(c) || strings.IndexByte("!$&'()*+,;=:@/?", c) >= 0:
			b.WriteByte(c)
		case c == '%' && i+2 < len(q) && isHex(q[i+1]) && isHex(q[i+2]):
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
