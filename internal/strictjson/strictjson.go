// Package strictjson is snippetd's one decoder for request bodies and
// input files (render, orders and their actions, catalog products,
// backfill, the demo shop's reports, the proxy): valid UTF-8, member names
// matched exactly, no unknown or duplicate members, nothing after the
// value. Its errors are EBADREQUEST *apperr.Error values naming the field
// as the API spells it ("cart.items[1].price"), so every endpoint reports
// bad input the same way.
package strictjson

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// Decode parses one JSON value from data into v: valid UTF-8, no unknown
// or duplicate members, nothing after the value; errors are EBADREQUEST
// naming the field ("cart.items[1].price").
//
// It uses the JSON v2 decoder (github.com/go-json-experiment/json, the
// implementation behind Go's encoding/json/v2) because its errors carry a
// JSON pointer to the offending value (encoding/json names only the Go
// field path, and its unknown-field error only as text) and it matches
// member names exactly (encoding/json would also accept "Product" for
// "product") and refuses duplicates.
func Decode(data []byte, v any) error {
	return DecodeWith(data, v, jsonv2.RejectUnknownMembers(true))
}

// DecodeWith is Decode with other v2 options; a batch item is decoded with
// unknown members kept (in a `json:",unknown"` field) for its snippet's
// strict decode.
func DecodeWith(data []byte, v any, opts ...jsonv2.Options) error {
	if !utf8.Valid(data) {
		return &apperr.Error{Code: apperr.EBADREQUEST, Message: "body is not valid UTF-8"}
	}
	if err := jsonv2.Unmarshal(data, v, opts...); err != nil {
		return decodeError(data, err)
	}
	return nil
}

// decodeError turns a v2 error about data into a client-safe
// *apperr.Error.
func decodeError(data []byte, err error) error {
	var (
		sem *jsonv2.SemanticError
		syn *jsontext.SyntacticError
	)
	switch {
	case errors.As(err, &sem):
		field := fieldOf(sem.JSONPointer)
		var own *apperr.Error
		switch {
		case errors.Is(sem.Err, jsonv2.ErrUnknownName):
			return &apperr.Error{Code: apperr.EBADREQUEST, Field: field, Message: "unknown field"}
		case errors.As(sem.Err, &own):
			// A well-formed value a type's own decoder refuses by rule
			// (EINVALID) stays a 422; anything else it reports is 400.
			code := apperr.EBADREQUEST
			if own.Code == apperr.EINVALID {
				code = own.Code
			}
			return &apperr.Error{Code: code, Field: field, Message: own.Message}
		case sem.GoType != nil && sem.JSONKind != 0 && sem.Err == nil:
			return &apperr.Error{Code: apperr.EBADREQUEST, Field: field, Message: "must be " + kindOf(sem.GoType)}
		case sem.Err != nil && isAmount(sem.GoType):
			// shop.Money's own errors: "must be a number", "is out of range".
			return &apperr.Error{Code: apperr.EBADREQUEST, Field: field, Message: "an amount " + sem.Err.Error()}
		case sem.GoType != nil:
			return &apperr.Error{Code: apperr.EBADREQUEST, Field: field, Message: "must be " + kindOf(sem.GoType)}
		}
		return &apperr.Error{Code: apperr.EBADREQUEST, Field: field, Message: "malformed JSON"}
	case errors.As(err, &syn):
		msg := "malformed JSON"
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			msg = "duplicate field"
		case errors.Is(syn.Err, io.ErrUnexpectedEOF):
			msg = "body is empty or truncated JSON"
		case trailing(data, syn.ByteOffset):
			msg = "body holds data after the JSON document"
		}
		return &apperr.Error{Code: apperr.EBADREQUEST, Field: fieldOf(syn.JSONPointer), Message: msg}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &apperr.Error{Code: apperr.EBADREQUEST, Message: "body is empty or truncated JSON"}
	}
	return &apperr.Error{Code: apperr.EBADREQUEST, Message: "malformed JSON"}
}

// fieldOf turns a JSON pointer such as /cart/items/1/price into the field
// path the API uses, cart.items[1].price.
func fieldOf(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if tok != "" && strings.Trim(tok, "0123456789") == "" {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// trailing reports whether a syntax error at offset follows a complete
// JSON value: the v2 decoder has no sentinel error for data after the
// value, and its message text is not an API.
func trailing(data []byte, offset int64) bool {
	if offset <= 0 || offset > int64(len(data)) {
		return false
	}
	return jsontext.Value(bytes.TrimSpace(data[:offset])).IsValid(jsontext.AllowDuplicateNames(true))
}

var moneyType = reflect.TypeFor[shop.Money]()

func isAmount(t reflect.Type) bool { return t == moneyType }

// kindOf names the JSON kind a Go type decodes from.
func kindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == moneyType:
		return "a number"
	case t == reflect.TypeFor[time.Time]():
		return "an RFC 3339 time"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "an array"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	}
	return "an object"
}
