package shop

import "fmt"

// FieldError is the error every validator of this package (and of package
// snippets) returns for input that breaks a rule. Field is the JSON path
// of the offending value as the request spells it, such as
// "cart.items[1].price", so that a storefront can point at the input;
// Message says what is wrong with it ("must not be negative").
type FieldError struct {
	Field   string
	Message string
}

// Error returns "field: message", or the message alone when no field is
// named.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}
