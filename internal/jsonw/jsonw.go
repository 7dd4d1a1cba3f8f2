// Package jsonw appends JSON string literals to byte slices without
// reflection, for the hand-written encoders of the snippet payloads and the
// catalog feed (encoding/json would need reflection and an intermediate map
// or struct per value, and cannot keep key order without one).
//
// Strings are escaped exactly as encoding/json escapes them with HTML
// escaping on (its default), which is also what makes them inert inside a
// <script> element: '<', '>' and '&' become \u003c, \u003e and \u0026 (so no
// "</script>" or "<!--" survives), U+2028 and U+2029 become \u2028 and
// \u2029 (line terminators in older JavaScript), quotes and backslashes are
// backslash-escaped, control characters are escaped, and invalid UTF-8
// becomes U+FFFD. Everything else, emoji included, is copied unchanged.
package jsonw

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// safeASCII[c] is true for ASCII bytes that can be copied into a JSON string
// inside a <script> element as they are.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// AppendString appends s as a script-safe JSON string literal.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				// Control characters, '<', '>' and '&'.
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendStrings appends ss as a JSON array of strings.
func AppendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, s)
	}
	return append(b, ']')
}
