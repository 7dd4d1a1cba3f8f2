package snippets

import (
	"fmt"

	"github.com/snippetd/snippetd/shop"
)

// fieldErrorf is the validation error of this package: a *shop.FieldError,
// the one error type storefronts check for with errors.As.
func fieldErrorf(field, format string, args ...any) error {
	return &shop.FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}
