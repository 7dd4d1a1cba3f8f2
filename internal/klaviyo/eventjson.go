package klaviyo

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"

	"github.com/snippetd/snippetd/internal/jsonscan"
	"github.com/snippetd/snippetd/internal/jsonw"
)

// AppendJSON appends e encoded exactly as json.Marshal(e) encodes it, byte
// for byte, and returns json.Marshal's error when it would fail. The outbox
// stores every event this way: json.Marshal's reflection, its byte-at-a-time
// scanner over the properties and its four allocations cost about 2.5 times
// this (BenchmarkEventEncode). TestAppendJSONMatchesMarshal and
// FuzzAppendJSON hold it to json.Marshal.
//
// Like encoding/json, it escapes <, >, &, U+2028 and U+2029 everywhere,
// writes each byte of invalid UTF-8 in a string field as \ufffd, and
// compacts the properties (their strings are escaped the same way, but
// their invalid UTF-8 is kept). The rare events it does not encode itself
// go through json.Marshal, so that the bytes and the error are its own:
// properties that are not one JSON object within Klaviyo's limits (which
// ValidateAt refuses), and a time or an amount that has no JSON form.
func (e Event) AppendJSON(dst []byte) ([]byte, error) {
	var props jsonscan.Result
	if e.Properties != nil {
		if props = jsonscan.Scan(e.Properties, propertyLimits); !props.OK {
			return appendMarshal(dst, e)
		}
	}
	n0 := len(dst)
	dst = slices.Grow(dst, encodedSizeHint(e))
	dst = append(dst, `{"metric":`...)
	dst = jsonw.AppendString(dst, e.Metric)
	dst = append(dst, `,"profile":`...)
	dst = appendProfile(dst, &e.Profile)
	dst = append(dst, `,"properties":`...)
	if e.Properties == nil {
		dst = append(dst, "null"...)
	} else if props.Spaced {
		dst = appendCompact(dst, e.Properties)
	} else {
		dst = appendVerbatim(dst, e.Properties)
	}
	if !e.Time.IsZero() {
		dst = append(dst, `,"time":"`...)
		t, err := e.Time.AppendText(dst)
		if err != nil { // a year outside 0-9999, an offset of a day or more
			return appendMarshal(dst[:n0], e)
		}
		dst = append(t, '"')
	}
	if !e.Value.IsZero() {
		if e.Value.Cents() == math.MinInt64 { // AppendText cannot negate it: no JSON form
			return appendMarshal(dst[:n0], e)
		}
		dst = append(dst, `,"value":`...)
		dst = e.Value.AppendText(dst)
	}
	dst = appendMember(dst, true, "value_currency", e.ValueCurrency)
	dst = appendMember(dst, true, "unique_id", e.UniqueID)
	if e.Backfill {
		dst = append(dst, `,"backfill":true`...)
	}
	return append(dst, '}'), nil
}

// appendProfile appends p as json.Marshal writes it.
func appendProfile(dst []byte, p *Profile) []byte {
	dst = append(dst, '{')
	n := len(dst)
	dst = appendMember(dst, false, "email", p.Email)
	dst = appendMember(dst, len(dst) > n, "phone_number", p.PhoneNumber)
	dst = appendMember(dst, len(dst) > n, "external_id", p.ExternalID)
	dst = appendMember(dst, len(dst) > n, "_kx", p.Kx)
	dst = appendMember(dst, len(dst) > n, "anonymous_id", p.AnonymousID)
	dst = appendMember(dst, len(dst) > n, "first_name", p.FirstName)
	dst = appendMember(dst, len(dst) > n, "last_name", p.LastName)
	if l := p.Location; l != nil {
		if len(dst) > n {
			dst = append(dst, ',')
		}
		dst = append(dst, `"location":{`...)
		n := len(dst)
		dst = appendMember(dst, false, "address1", l.Address1)
		dst = appendMember(dst, len(dst) > n, "address2", l.Address2)
		dst = appendMember(dst, len(dst) > n, "city", l.City)
		dst = appendMember(dst, len(dst) > n, "country", l.Country)
		dst = appendMember(dst, len(dst) > n, "region", l.Region)
		dst = appendMember(dst, len(dst) > n, "zip", l.Zip)
		dst = appendMember(dst, len(dst) > n, "ip", l.IP)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendMember appends the member name: v, after a comma if comma, unless
// v is empty (omitempty).
func appendMember(dst []byte, comma bool, name, v string) []byte {
	if v == "" {
		return dst
	}
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	return jsonw.AppendString(dst, v)
}

// appendMarshal is AppendJSON's way for the events it does not encode
// itself.
func appendMarshal(dst []byte, e Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// encodedSizeHint is at least the length of e's encoding when nothing in
// it needs escaping, and close to it: enough to encode with one
// allocation.
func encodedSizeHint(e Event) int {
	n := len(`{"metric":,"profile":{},"properties":null}`) + len(e.Properties)
	p := e.Profile
	var l Location
	if p.Location != nil {
		l = *p.Location
		n += len(`,"location":{}`)
	}
	for _, s := range [...]string{e.Metric, e.ValueCurrency, e.UniqueID, p.Email, p.PhoneNumber, p.ExternalID, p.Kx, p.AnonymousID,
		p.FirstName, p.LastName, l.Address1, l.Address2, l.City, l.Country, l.Region, l.Zip, l.IP} {
		if s != "" {
			n += len(`,"value_currency":""`) + len(s) // the longest name
		}
	}
	if !e.Time.IsZero() {
		n += len(`,"time":"2006-01-02T15:04:05.999999999-07:00"`)
	}
	if !e.Value.IsZero() {
		n += len(`,"value":-92233720368547758.07`)
	}
	if e.Backfill {
		n += len(`,"backfill":true`)
	}
	return n
}

const hexDigits = "0123456789abcdef"

// compactSpecial marks the bytes appendCompact looks at.
var compactSpecial = func() (c [256]bool) {
	for _, b := range []byte("\"\\ \t\n\r<>&\xe2") {
		c[b] = true
	}
	return c
}()

// appendVerbatim is appendCompact for valid JSON without whitespace
// outside its strings: unless it holds a byte that escaping changes
// (<, >, &, or 0xE2, the first byte of U+2028 and U+2029 among others),
// appendCompact would copy it unchanged, and a copy is several times
// faster than its byte-by-byte loop.
func appendVerbatim(dst, raw []byte) []byte {
	if bytes.IndexByte(raw, '<') >= 0 || bytes.IndexByte(raw, '>') >= 0 || bytes.IndexByte(raw, '&') >= 0 || bytes.IndexByte(raw, 0xE2) >= 0 {
		return appendCompact(dst, raw)
	}
	return append(dst, raw...)
}

// appendCompact appends the valid JSON raw as encoding/json writes a
// json.RawMessage: without whitespace outside strings, and with <, >, &,
// U+2028 and U+2029 escaped (they can only occur inside strings). Other
// bytes, invalid UTF-8 included, are copied as they are.
func appendCompact(dst, raw []byte) []byte {
	start := 0
	inString := false
	for i := 0; i < len(raw); i++ {
		if !compactSpecial[raw[i]] {
			continue
		}
		switch c := raw[i]; c {
		case '"':
			inString = !inString
		case '\\':
			i++ // the escaped byte, which may be a quote
		case ' ', '\t', '\n', '\r':
			if !inString {
				dst = append(dst, raw[start:i]...)
				start = i + 1
			}
		case '<', '>', '&':
			dst = append(dst, raw[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case 0xE2: // U+2028 and U+2029 are E2 80 A8 and E2 80 A9
			if i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8 {
				dst = append(dst, raw[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[raw[i+2]&0xF])
				i += 2
				start = i + 1
			}
		}
	}
	return append(dst, raw[start:]...)
}
