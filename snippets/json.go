package snippets

import (
	"github.com/snippetd/snippetd/shop"
)

// The payload builders append JSON by hand (see package jsonw for why and
// for the string escaping that keeps them inert inside <script>).

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
