// Package jsonscan checks a JSON object of event properties against size
// limits in one pass over its bytes, without allocating. It answers only
// "certainly acceptable": anything invalid, or anything it does not decide
// itself (a string or key whose decoded length could pass a limit, a number
// it does not range-check), is reported as not OK so that the caller's slow
// path decodes the value, decides exactly and names the field. The proxy's
// ingest validator uses it in front of its walker, which names the field,
// and holds it to that slow path with a table test and a fuzz target.
package jsonscan

// Limits bounds an object. Zero MaxKey means keys are not limited.
type Limits struct {
	MaxProperties int // keys of the top-level object
	MaxDepth      int // nesting, the top-level object being 1
	MaxArray      int // items of any array
	MaxString     int // decoded bytes of any string value
	MaxKey        int // decoded bytes of any key (0: no limit)
	// Exponents accepts numbers with an exponent; without it they are left
	// to the slow path (which range-checks them).
	Exponents bool
}

// Result is the outcome of Scan.
type Result struct {
	// OK: raw is one JSON object within the limits, followed only by JSON
	// whitespace. Blank: raw is empty or only whitespace.
	OK, Blank bool
	// Spaced (with OK or Blank): JSON whitespace was seen outside strings,
	// so compaction would change the bytes.
	Spaced bool
}

// Scan checks raw against l.
func Scan(raw []byte, l Limits) Result {
	s := scanner{b: raw, l: &l}
	s.space()
	if s.i == len(raw) {
		return Result{Blank: true, Spaced: s.spaced}
	}
	if raw[s.i] != '{' {
		return Result{}
	}
	n, ok := s.object(1)
	if !ok || n > l.MaxProperties {
		return Result{}
	}
	s.space()
	if s.i != len(raw) {
		return Result{}
	}
	return Result{OK: true, Spaced: s.spaced}
}

type scanner struct {
	b      []byte
	i      int
	l      *Limits
	spaced bool
}

func (s *scanner) space() {
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

// object consumes an object at s.b[s.i] == '{' nested at depth and
// returns its raw key count.
func (s *scanner) object(depth int) (int, bool) {
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
		// U+FFFD), so below a third of a limit the raw length settles it.
		k, ok := s.str()
		if !ok || (s.l.MaxKey > 0 && k*3 > s.l.MaxKey) {
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
func (s *scanner) value(depth int) bool {
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

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// str consumes a string at s.b[s.i] == '"' with encoding/json's rules
// (control characters rejected, escapes checked, other bytes as they are)
// and returns the raw length between the quotes.
func (s *scanner) str() (int, bool) {
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

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; without
// Limits.Exponents it refuses an exponent and more than 300 integer digits,
// so that what it accepts is always within float64's range.
func (s *scanner) number() bool {
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
		if s.digits() > 300 && !s.l.Exponents {
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
		if !s.l.Exponents {
			return false
		}
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

func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
