package apperr

import (
	"errors"
	"testing"
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
