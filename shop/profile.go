package shop

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Location is where a customer lives, as Klaviyo's profile location takes
// it (attributes.location of the current profile and event APIs).
type Location struct {
	Address1 string `json:"address1,omitempty"`
	Address2 string `json:"address2,omitempty"`
	City     string `json:"city,omitempty"`
	Region   string `json:"region,omitempty"`
	Country  string `json:"country,omitempty"`
	Zip      string `json:"zip,omitempty"`
}

// The limits of a profile's location and custom properties: Klaviyo's
// (at most 400 properties, strings up to 100 KB) and, for location
// members, a bound well above any real address line.
const (
	MaxProfileProperties = 400
	MaxPropertyBytes     = 100 * 1024
	maxLocationBytes     = 255
)

// Validate checks each member: at most 255 bytes, no control characters.
// field is the location's JSON path.
func (l Location) Validate(field string) error {
	for _, m := range [...]struct{ name, v string }{
		{"address1", l.Address1}, {"address2", l.Address2}, {"city", l.City},
		{"region", l.Region}, {"country", l.Country}, {"zip", l.Zip},
	} {
		if len(m.v) > maxLocationBytes || strings.ContainsFunc(m.v, unicode.IsControl) || !utf8.ValidString(m.v) {
			return fieldErrorf(field+"."+m.name, "must be at most %d bytes of text without control characters", maxLocationBytes)
		}
	}
	return nil
}

// IsZero reports whether no member is set.
func (l Location) IsZero() bool { return l == Location{} }

// Property is one custom profile property: its name and its value as JSON
// text (a string, a number exactly as written, true or false).
type Property struct {
	Name  string
	Value json.RawMessage
	// Str is the value when it is a string (Value is then its JSON text).
	Str      string
	IsString bool
}

// ProfileProperties reads a flat JSON object of custom profile properties
// and returns its members in order. Klaviyo's rules: a flat object (values
// are strings, numbers or booleans; no nested objects or arrays), at most
// MaxProfileProperties members, strings up to MaxPropertyBytes, names not
// blank, not repeated and not starting with "$" (Klaviyo's own special
// properties, such as $email, are never custom). Errors name the field
// under field ("customer.properties.size").
func ProfileProperties(raw json.RawMessage, field string) ([]Property, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fieldErrorf(field, "must be a JSON object of custom properties")
	}
	var out []Property
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, fieldErrorf(field, "is not valid JSON")
		}
		name := tok.(string)
		f := field + "." + name
		switch {
		case strings.TrimSpace(name) == "":
			return nil, fieldErrorf(field, "has a blank property name")
		case strings.HasPrefix(name, "$"):
			return nil, fieldErrorf(f, "names starting with $ are Klaviyo's own properties, not custom ones")
		case len(name) > maxLocationBytes || strings.ContainsFunc(name, unicode.IsControl):
			return nil, fieldErrorf(f, "a property name must be at most %d bytes without control characters", maxLocationBytes)
		case seen[name]:
			return nil, fieldErrorf(f, "is repeated")
		}
		seen[name] = true
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, fieldErrorf(f, "is not valid JSON")
		}
		p := Property{Name: name, Value: v}
		switch v[0] {
		case '{', '[':
			return nil, fieldErrorf(f, "must be a string, number or boolean (profile properties are flat)")
		case 'n':
			return nil, fieldErrorf(f, "must be a string, number or boolean, not null")
		case '"':
			if err := json.Unmarshal(v, &p.Str); err != nil {
				return nil, fieldErrorf(f, "is not a valid JSON string")
			}
			if len(p.Str) > MaxPropertyBytes {
				return nil, fieldErrorf(f, "must be at most %d bytes", MaxPropertyBytes)
			}
			p.IsString = true
		}
		out = append(out, p)
		if len(out) > MaxProfileProperties {
			return nil, fieldErrorf(field, "holds more than %d properties", MaxProfileProperties)
		}
	}
	if _, err := d.Token(); err != nil {
		return nil, fieldErrorf(field, "is not valid JSON")
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fieldErrorf(field, "must be one JSON object")
	}
	return out, nil
}
