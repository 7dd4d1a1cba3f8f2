package catalog

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/snippetd/snippetd/shop"
)

// Product is a catalog product as the products file and PUT/PATCH
// /v1/catalog/products take it: a storefront product plus any other flat
// members, which the feed passes through as custom catalog fields (Klaviyo
// keeps feed members it does not know, so flows and templates can show
// them). shop.Product itself stays strict: the render API shares it.
type Product struct {
	shop.Product `json:",inline"`
	// Fields holds the members shop.Product does not know, as one JSON
	// object in the source's order; fieldsOf checks them.
	Fields jsontext.Value `json:",unknown"`
}

// Field is one custom field of a feed item: a string, number or boolean.
type Field struct {
	Name string
	// Text is the string (cleaned like every feed string), or the number
	// or boolean exactly as the source wrote it.
	Text string
	// Quoted is true for a string (JSON writes Text quoted, a number or
	// boolean as is).
	Quoted bool
}

// MaxFieldsBytes bounds a product's custom fields together (names and
// values as JSON), Klaviyo's limit for an item's custom metadata.
const MaxFieldsBytes = 100 << 10

// maxFieldName is the longest custom field name, in bytes.
const maxFieldName = 255

// knownNames are the member names of shop.Product and of the feed's items
// (lower-cased): a custom field may not reuse one, in any case, since the
// feed would then carry the same name twice or a near twin of a field
// Klaviyo reads.
var knownNames = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range []reflect.Type{reflect.TypeFor[shop.Product](), reflect.TypeFor[Item]()} {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				m[strings.ToLower(name)] = true
			}
		}
	}
	return m
}()

// fieldsOf checks p's custom fields and returns them in the source's
// order; members whose value is null are left out, as a null known field
// is. A problem names the offending field.
func fieldsOf(p Product) ([]Field, *Problem) {
	if len(p.Fields) == 0 {
		return nil, nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(p.Fields), jsontext.AllowInvalidUTF8(true))
	if _, err := dec.ReadToken(); err != nil { // {
		return nil, &Problem{ID: p.ID, Message: "malformed custom fields"}
	}
	var fs []Field
	total := 0
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, &Problem{ID: p.ID, Message: "malformed custom fields"}
		}
		name := tok.String()
		msg := ""
		switch {
		case len(name) > maxFieldName:
			msg = fmt.Sprintf("a custom field name must be at most %d bytes", maxFieldName)
		case knownNames[strings.ToLower(name)]:
			msg = "is a known field's name in another case or a feed field's name; use the product field's exact name, or another name for a custom field"
		case !isXMLName(name):
			msg = "a custom field name must be a valid XML element name without a colon (a letter or _ first, then letters, digits, _, - or .), so that the XML feed carries it as the JSON feed does"
		}
		if msg != "" {
			return nil, &Problem{ID: p.ID, Field: name, Message: msg}
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil, &Problem{ID: p.ID, Field: name, Message: "malformed value"}
		}
		if total += len(name) + len(v); total > MaxFieldsBytes {
			return nil, &Problem{ID: p.ID, Field: name, Message: fmt.Sprintf("custom fields must total at most %d KB (names and values)", MaxFieldsBytes>>10)}
		}
		switch v.Kind() {
		case 'n':
			continue
		case '"':
			b, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				// Invalid UTF-8 in the source: clean replaces it, as in
				// every other feed string.
				b, _ = jsontext.AppendUnquote(nil, bytes.ToValidUTF8(v, []byte("\uFFFD")))
			}
			s := string(b)
			fs = append(fs, Field{Name: name, Text: clean(s), Quoted: true})
		case '0', 't', 'f':
			fs = append(fs, Field{Name: name, Text: string(v)})
		default:
			return nil, &Problem{ID: p.ID, Field: name, Message: "must be a string, number or boolean (the feed's custom fields are flat)"}
		}
	}
	return fs, nil
}

// isXMLName reports whether s is an XML 1.0 Name without a colon.
func isXMLName(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		if !xmlNameStart(r) && (i == 0 || !xmlNameChar(r)) {
			return false
		}
	}
	return true
}

func xmlNameStart(r rune) bool {
	return r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' ||
		r >= 0xC0 && r <= 0xD6 || r >= 0xD8 && r <= 0xF6 || r >= 0xF8 && r <= 0x2FF ||
		r >= 0x370 && r <= 0x37D || r >= 0x37F && r <= 0x1FFF || r >= 0x200C && r <= 0x200D ||
		r >= 0x2070 && r <= 0x218F || r >= 0x2C00 && r <= 0x2FEF || r >= 0x3001 && r <= 0xD7FF ||
		r >= 0xF900 && r <= 0xFDCF || r >= 0xFDF0 && r <= 0xFFFD || r >= 0x10000 && r <= 0xEFFFF
}

func xmlNameChar(r rune) bool {
	return r == '-' || r == '.' || r >= '0' && r <= '9' || r == 0xB7 ||
		r >= 0x300 && r <= 0x36F || r >= 0x203F && r <= 0x2040
}

// itemOf is ItemOf with p's custom fields checked and added.
func itemOf(p Product) (Item, *Problem) {
	it := ItemOf(p.Product)
	fs, prob := fieldsOf(p)
	it.Fields = fs
	return it, prob
}

// storedJSON is p as the database stores it: shop.Product's JSON with the
// custom fields appended as members of the same object.
func storedJSON(p Product, marshal func(any) ([]byte, error)) ([]byte, error) {
	data, err := marshal(p.Product)
	if err != nil || len(p.Fields) <= 2 {
		return data, err
	}
	inner := bytes.TrimSpace(p.Fields)
	inner = bytes.TrimSpace(inner[1 : len(inner)-1])
	if len(inner) == 0 {
		return data, nil
	}
	out := make([]byte, 0, len(data)+len(inner)+1)
	out = append(out, data[:len(data)-1]...)
	out = append(out, ',')
	out = append(out, inner...)
	return append(out, '}'), nil
}
