package shop

import "github.com/snippetd/snippetd/internal/apperr"

func fieldOf(err error) string { return apperr.ErrorField(err) }
