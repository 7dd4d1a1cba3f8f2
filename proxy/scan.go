package proxy

// A one-pass, allocation-free check of an event's properties, tried by
// validateProperties before the decode-into-any walker. propsScan.ok
// returns true only when the walker would accept the object; for anything
// invalid, or anything it does not decide itself (a string or key whose
// decoded length could exceed the limit, a number with an exponent or of
// more than 300 digits, duplicated keys pushing the count over the limit),
// it returns false and the walker decides and names the field.
// TestScanAgreesWithWalker and FuzzScanAgrees hold the two to the same
// answers. Modelled on klaviyo/scan.go, but with the proxy's Limits.

// propsScan scans one properties object.
type propsScan struct {
	b      []byte
	i      int
	l      *Limits
	spaced bool // JSON whitespace seen outside strings: compaction needed
}

// maxKeyBytes is the longest property key the walker accepts.
const maxKeyBytes = 256

// ok reports whether raw (starting with '{') is certainly acceptable
// properties: one JSON object within the limits followed only by JSON
// whitespace.
func (s *propsScan) ok() bool {
	if len(s.b) == 0 || s.b[0] != '{' {
		return false
	}
	n, ok := s.object(1)
	if !ok || n > s.l.MaxProperties {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

func (s *propsScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
			s.spaced = true
		default:
			return
		}
	}
}

// object consumes an object at s.b[s.i] == '{' nested at depth (the
// properties object is 1) and returns its raw key count.
func (s *propsScan) object(depth int) (int, bool) {
	if depth > s.l.MaxDepth {
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
		// Decoding grows a string at most 3× (an invalid byte becomes
		// U+FFFD), so below a third of the limit the raw length settles it.
		k, ok := s.str()
		if !ok || k*3 > maxKeyBytes {
			return 0, false
		}
		n++
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return 0, false
		}
		s.i++
		s.space()
		if !s.value(depth) {
			return 0, false
		}
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
func (s *propsScan) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		n, ok := s.str()
		return ok && n*3 <= s.l.MaxString
	case c == '{':
		_, ok := s.object(depth + 1)
		return ok
	case c == '[':
		if depth+1 > s.l.MaxDepth {
			return false
		}
		s.i++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for items := 0; ; items++ {
			if items >= s.l.MaxArray {
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

func (s *propsScan) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// str consumes a string at s.b[s.i] == '"' with encoding/json's rules
// (control characters rejected, escapes checked, other bytes as they are)
// and returns the raw length between the quotes.
func (s *propsScan) str() (int, bool) {
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

// number consumes a JSON number without an exponent,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?, of at most 300 integer digits: such a
// number is always within float64's range. Anything else goes to the
// walker, which checks the range.
func (s *propsScan) number() bool {
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
		if s.digits() > 300 {
			return false
		}
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
		return false
	}
	return true
}

func (s *propsScan) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
