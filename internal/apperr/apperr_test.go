package apperr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/snippetd/snippetd/shop"
)

func TestPrefixField(t *testing.T) {
	for _, c := range []struct{ prefix, field, want string }{
		{"events[0]", "", "events[0]"},
		{"events[0].cart", "items[1].price", "events[0].cart.items[1].price"},
		{"events[0]", "[2]", "events[0][2]"},
		{"snippets[3]", "cart.id", "snippets[3].cart.id"},
	} {
		err := PrefixField(c.prefix, &Error{Code: EINVALID, Field: c.field, Message: "m"})
		if got := ErrorField(err); got != c.want {
			t.Errorf("PrefixField(%q, field %q) names %q, want %q", c.prefix, c.field, got, c.want)
		}
		if ErrorCode(err) != EINVALID || ErrorMessage(err) != "m" {
			t.Errorf("PrefixField changed code or message: %v", err)
		}
	}
	plain := errors.New("plain")
	if PrefixField("x", plain) != plain {
		t.Error("a non-*Error error was not returned as it is")
	}
	orig := &Error{Code: EINVALID, Field: "a"}
	PrefixField("x", orig)
	if orig.Field != "a" {
		t.Error("PrefixField modified its argument")
	}
}

// The public packages' *shop.FieldError goes through the funnel as an
// EINVALID error naming its field, wrapped or prefixed.
func TestFieldError(t *testing.T) {
	fe := &shop.FieldError{Field: "cart.items[1].price", Message: "must not be negative"}
	wrapped := fmt.Errorf("line 3: %w", fe)
	if c, f, m := ErrorCode(wrapped), ErrorField(wrapped), ErrorMessage(wrapped); c != EINVALID || f != fe.Field || m != fe.Message {
		t.Errorf("funnel reads %q %q %q, want invalid with the field error's field and message", c, f, m)
	}
	if got := ErrorField(PrefixField("snippets[2]", fe)); got != "snippets[2].cart.items[1].price" {
		t.Errorf("PrefixField names %q", got)
	}
	var e *Error
	if !errors.As(From(fe), &e) || e.Code != EINVALID || e.Field != fe.Field {
		t.Errorf("From(%v) = %#v, want an EINVALID *Error", fe, From(fe))
	}
	if plain := errors.New("plain"); From(plain) != plain || ErrorCode(plain) != EINTERNAL {
		t.Error("an internal error changed its nature")
	}
}
