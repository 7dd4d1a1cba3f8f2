package snippets

import (
	"unicode/utf8"

	"github.com/snippetd/snippetd/shop"
)

// This file is a small JSON writer for the push payloads. encoding/json
// would need reflection and an intermediate map or struct per payload and
// cannot keep key order without one; the payloads are few and fixed, so the
// builders append them directly. Strings are escaped exactly as
// encoding/json escapes them with HTML escaping on (the default), which is
// also what makes them inert inside a <script> element: '<', '>' and '&'
// become \u003c, \u003e and \u0026 (so no "</script>" or "<!--" survives),
// U+2028 and U+2029 become \u2028 and \u2029 (line terminators in older
// JavaScript), quotes and backslashes are backslash-escaped, control
// characters are escaped, and invalid UTF-8 becomes U+FFFD. Everything else,
// emoji included, is copied unchanged.

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

// appendString appends s as a script-safe JSON string literal.
func appendString(b []byte, s string) []byte {
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

// appendStrings appends ss as a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendMoney appends m as a JSON number rounded to cents (29.98, 10, 9.9).
func appendMoney(b []byte, m shop.Money) []byte { return m.AppendText(b) }

// field appends `,"key":` (or `"key":` as the first member when first is
// true); keys are constants of this package and need no escaping.
func field(b []byte, key string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}
