package shop

import "errors"

// fieldOf is the field a validation error names ("" for other errors).
func fieldOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}
