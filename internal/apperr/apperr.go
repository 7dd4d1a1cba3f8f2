// Package apperr holds the error type shared by snippetd's internal packages.
//
// Domain packages return *Error values whose Code says what went wrong in
// terms a client can act on; the HTTP layer maps codes to statuses in one
// place (httpx.Error). The public packages shop and snippets cannot return
// an internal type: their *shop.FieldError counts as an EINVALID *Error
// naming its field. Anything else is internal: it is logged and never
// shown to a client.
package apperr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/snippetd/snippetd/shop"
)

// Error codes. Each maps to one HTTP status in httpapi.
const (
	EINVALID      = "invalid"      // 422: well-formed input that breaks a rule
	EBADREQUEST   = "bad_request"  // 400: malformed input (JSON, UTF-8)
	ENOTFOUND     = "not_found"    // 404
	EUNAUTHORIZED = "unauthorized" // 401
	EFORBIDDEN    = "forbidden"    // 403
	ETOOLARGE     = "too_large"    // 413
	EUNSUPPORTED  = "unsupported"  // 415: wrong content type
	ECONFLICT     = "conflict"     // 409
	ERATELIMIT    = "rate_limited" // 429
	EUNAVAILABLE  = "unavailable"  // 503
	EINTERNAL     = "internal"     // 500: never carries details to clients
)

// Error is an error whose Code and Message are safe to show to a client.
// Field, when set, is the JSON path of the offending input, such as
// "cart.items[1].price".
type Error struct {
	Code    string
	Message string
	Field   string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("snippetd: %s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("snippetd: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error with code EINVALID that names field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error err wraps, or the EINVALID *Error of a
// *shop.FieldError it wraps.
func As(err error) (*Error, bool) {
	var (
		e  *Error
		fe *shop.FieldError
	)
	switch {
	case errors.As(err, &e):
		return e, true
	case errors.As(err, &fe):
		return &Error{Code: EINVALID, Field: fe.Field, Message: fe.Message}, true
	}
	return nil, false
}

// From returns err as an *Error when As finds one (so callers and tests
// can use errors.As on it), else err itself.
func From(err error) error {
	if e, ok := As(err); ok {
		return e
	}
	return err
}

// ErrorCode returns the code of err when As finds an *Error, else
// EINTERNAL. A nil err has no code.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	} else if e, ok := As(err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err, or a generic text for
// internal errors.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	} else if e, ok := As(err); ok {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field named by err, if any.
func ErrorField(err error) string {
	if e, ok := As(err); ok {
		return e.Field
	}
	return ""
}

// PrefixField returns err with the field it names placed under prefix
// ("cart" + "items[1].price" = "cart.items[1].price"; an index such as
// "[2]" is appended without a dot); an error naming no field gets prefix
// itself. A *shop.FieldError becomes an EINVALID *Error; other errors
// are returned as they are.
func PrefixField(prefix string, err error) error {
	var e *Error
	switch err := err.(type) {
	case *Error:
		e = err
	case *shop.FieldError:
		e = &Error{Code: EINVALID, Field: err.Field, Message: err.Message}
	default:
		return err
	}
	out := *e
	switch {
	case out.Field == "":
		out.Field = prefix
	case strings.HasPrefix(out.Field, "["):
		out.Field = prefix + out.Field
	default:
		out.Field = prefix + "." + out.Field
	}
	return &out
}
