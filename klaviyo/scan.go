package klaviyo

// A one-pass, allocation-free check of an event's properties, used by
// ValidateAt before the token walker (checkProperties). propertiesOK
// returns true only when checkProperties would return nil; it returns false
// for anything invalid and for anything it does not decide itself (a
// string whose decoded length could exceed MaxStringBytes, a "null", a
// non-JSON space), in which case the walker decides and names the field.
// TestValidateAgreesWithReference and FuzzValidateAgrees hold the two to
// the same answers.

// propertiesOK reports whether raw is certainly acceptable properties:
// empty or JSON whitespace, or one JSON object within Klaviyo's limits
// followed only by JSON whitespace.
func propertiesOK(raw []byte) bool {
	s := propScanner{b: raw}
	s.space()
	if s.i == len(raw) {
		return true // blank: encoded as {}
	}
	if raw[s.i] != '{' {
		return false
	}
	n, ok := s.object(1)
	if !ok || n > MaxProperties {
		return false
	}
	s.space()
	return s.i == len(raw)
}

type propScanner struct {
	b []byte
	i int
}

func (s *propScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object consumes an object at s.b[s.i] == '{' nested at depth (the
// properties object is 1) and returns its key count.
func (s *propScanner) object(depth int) (int, bool) {
	if depth > MaxDepth {
		return 0, false
	}
	s.i++ // '{'
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return 0, true
	}
	n := 0
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return 0, false
		}
		if _, ok := s.str(); !ok {
			return 0, false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return 0, false
		}
		s.i++
		s.space()
		if !s.value(depth) {
			return 0, false
		}
		n++
		s.space()
		if s.i >= len(s.b) {
			return 0, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			return n, true
		default:
			return 0, false
		}
	}
}

// value consumes one value inside a container at depth.
func (s *propScanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		n, ok := s.str()
		// The walker limits the decoded string; decoding can grow a
		// string at most 3× (an invalid byte becomes U+FFFD), so below a
		// third of the limit the raw length settles it.
		return ok && n*3 <= MaxStringBytes
	case c == '{':
		_, ok := s.object(depth + 1)
		return ok
	case c == '[':
		if depth+1 > MaxDepth {
			return false
		}
		s.i++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for items := 0; ; items++ {
			if items >= MaxArrayItems {
				return false
			}
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if s.i >= len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case ',':
				s.i++
				s.space()
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return false
}

func (s *propScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// str consumes a string at s.b[s.i] == '"' with encoding/json's rules
// (control characters rejected, escapes checked, other bytes as they are)
// and returns the raw length between the quotes.
func (s *propScanner) str() (int, bool) {
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			n := s.i - start
			s.i++
			return n, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return 0, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return 0, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return 0, false
					}
				}
				s.i += 5
			default:
				return 0, false
			}
		default:
			s.i++
		}
	}
	return 0, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number consumes a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *propScanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *propScanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// encodedSizeBound is an upper bound on len(EncodeEvent(e)): encoding/json
// writes any input byte as at most 6 bytes (\u00XX, \ufffd for an invalid
// byte, \u2028 for three), and the JSON:API framing, keys, time and value
// fit in 2 KB.
func encodedSizeBound(e Event) int {
	n := len(e.Properties) + len(e.Metric) + len(e.ValueCurrency) + len(e.UniqueID)
	p := e.Profile
	n += len(p.Email) + len(p.PhoneNumber) + len(p.ExternalID) + len(p.Kx) + len(p.AnonymousID) + len(p.FirstName) + len(p.LastName)
	if l := p.Location; l != nil {
		n += len(l.Address1) + len(l.Address2) + len(l.City) + len(l.Country) + len(l.Region) + len(l.Zip) + len(l.IP)
	}
	return 6*n + 2048
}
