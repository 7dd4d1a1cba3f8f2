package shop

import "github.com/snippetd/snippetd"

func fieldOf(err error) string { return snippetd.ErrorField(err) }
