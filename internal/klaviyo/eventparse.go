package klaviyo

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/snippetd/snippetd/internal/jsonscan"
)

// ParseEvent decodes data as json.Unmarshal(data, &e) decodes it into a
// zero Event: the same event, or json.Unmarshal's error. What AppendJSON
// writes (every event the outbox stores) takes a path without reflection,
// about a fifth of json.Unmarshal's CPU (BenchmarkEventDecode); anything
// else goes through json.Unmarshal. TestParseEventMatchesUnmarshal and
// FuzzParseEvent hold it to json.Unmarshal.
//
// Unlike json.Unmarshal, the fast path leaves the event's Properties
// sharing data's memory: data must not change while the event is in use.
func ParseEvent(data []byte) (Event, error) {
	if e, ok := parseCanonical(data); ok {
		return e, nil
	}
	var e Event
	err := json.Unmarshal(data, &e)
	return e, err
}

// parseCanonical decodes data when it has AppendJSON's form: the members
// in Event's order, optional ones absent rather than empty, no
// whitespace, strings without escapes and of valid UTF-8, and properties
// that are one JSON object within Klaviyo's limits. It reports false for
// anything else, leaving it to json.Unmarshal. Everything it accepts is
// valid JSON that json.Unmarshal decodes to the same Event: each key is
// an exact field name, each value is checked as json.Unmarshal checks it,
// and the time and value go through the same UnmarshalJSON methods.
func parseCanonical(data []byte) (Event, bool) {
	var e Event
	p := eventParser{b: data}
	var ok bool
	if !p.lit(`{"metric":`) {
		return e, false
	}
	if e.Metric, ok = p.str(); !ok || !p.lit(`,"profile":{`) {
		return e, false
	}
	pr := &e.Profile
	first := true
	for _, f := range [...]struct {
		name string
		dst  *string
	}{{"email", &pr.Email}, {"phone_number", &pr.PhoneNumber}, {"external_id", &pr.ExternalID}, {"_kx", &pr.Kx},
		{"anonymous_id", &pr.AnonymousID}, {"first_name", &pr.FirstName}, {"last_name", &pr.LastName}} {
		if p.key(f.name, first) {
			if *f.dst, ok = p.str(); !ok {
				return e, false
			}
			first = false
		}
	}
	if p.key("location", first) {
		if !p.lit(`{`) {
			return e, false
		}
		l := new(Location)
		first := true
		for _, f := range [...]struct {
			name string
			dst  *string
		}{{"address1", &l.Address1}, {"address2", &l.Address2}, {"city", &l.City}, {"country", &l.Country},
			{"region", &l.Region}, {"zip", &l.Zip}, {"ip", &l.IP}} {
			if p.key(f.name, first) {
				if *f.dst, ok = p.str(); !ok {
					return e, false
				}
				first = false
			}
		}
		if !p.lit(`}`) {
			return e, false
		}
		pr.Location = l
	}
	if !p.lit(`},"properties":{`) {
		return e, false
	}
	start := p.i - 1
	n, ok := jsonscan.Prefix(data[start:], propertyLimits)
	if !ok {
		return e, false
	}
	end := start + n
	e.Properties = json.RawMessage(data[start:end:end])
	p.i = end
	if p.key("time", false) {
		s := p.i
		if _, ok := p.str(); !ok || e.Time.UnmarshalJSON(data[s:p.i]) != nil {
			return e, false
		}
	}
	if p.key("value", false) {
		s := p.i
		if !p.number() || e.Value.UnmarshalJSON(data[s:p.i]) != nil {
			return e, false
		}
	}
	if p.key("value_currency", false) {
		if e.ValueCurrency, ok = p.str(); !ok {
			return e, false
		}
	}
	if p.key("unique_id", false) {
		if e.UniqueID, ok = p.str(); !ok {
			return e, false
		}
	}
	if p.key("backfill", false) {
		if !p.lit("true") {
			return e, false
		}
		e.Backfill = true
	}
	return e, p.lit("}") && p.i == len(data)
}

type eventParser struct {
	b []byte
	i int
}

// lit consumes s if the input continues with it.
func (p *eventParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// key consumes `"name":`, preceded by a comma unless first, if the input
// continues with it.
func (p *eventParser) key(name string, first bool) bool {
	i := p.i
	if !first {
		if i >= len(p.b) || p.b[i] != ',' {
			return false
		}
		i++
	}
	if len(p.b)-i < len(name)+3 || p.b[i] != '"' || string(p.b[i+1:i+1+len(name)]) != name ||
		p.b[i+1+len(name)] != '"' || p.b[i+2+len(name)] != ':' {
		return false
	}
	p.i = i + len(name) + 3
	return true
}

// str consumes a string without escapes, control characters or invalid
// UTF-8 (json.Unmarshal would change those bytes; they go to it) and
// returns it.
func (p *eventParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	ascii := true
	for i := start; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			s := p.b[start:i]
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			p.i = i + 1
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// number consumes a JSON number (jsonscan.Number's grammar).
func (p *eventParser) number() bool {
	end, ok := jsonscan.Number(p.b, p.i)
	if ok {
		p.i = end
	}
	return ok
}
