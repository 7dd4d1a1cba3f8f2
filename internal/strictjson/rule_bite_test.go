package strictjson

import (
	"strconv"
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
)

// even is a type whose own decoder refuses a well-formed value by rule
// (EINVALID), or a value it cannot read at all (EBADREQUEST).
type even int

func (e *even) UnmarshalJSON(b []byte) error {
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return &apperr.Error{Code: apperr.EBADREQUEST, Message: "must be a whole number"}
	}
	if n%2 != 0 {
		return &apperr.Error{Code: apperr.EINVALID, Message: "must be even"}
	}
	*e = even(n)
	return nil
}

// TestDecodeKeepsATypesOwnRule: a type's own error keeps its message and
// is named by its field; a rule broken (EINVALID) stays a 422, anything
// else the type reports is a 400.
func TestDecodeKeepsATypesOwnRule(t *testing.T) {
	type doc struct {
		Items []struct {
			N even `json:"n"`
		} `json:"items"`
	}
	for _, tt := range []struct {
		body, code, msg string
	}{
		{`{"items":[{"n":2},{"n":3}]}`, apperr.EINVALID, "must be even"},
		{`{"items":[{"n":2},{"n":2.5}]}`, apperr.EBADREQUEST, "must be a whole number"},
	} {
		var d doc
		err := Decode([]byte(tt.body), &d)
		e, ok := err.(*apperr.Error)
		if !ok || e.Code != tt.code || e.Field != "items[1].n" || e.Message != tt.msg {
			t.Errorf("Decode(%s) = %#v, want %s at items[1].n: %s", tt.body, err, tt.code, tt.msg)
		}
	}
	var d doc
	if err := Decode([]byte(`{"items":[{"n":4}]}`), &d); err != nil || len(d.Items) != 1 || d.Items[0].N != 4 {
		t.Errorf("valid body: %+v, %v", d, err)
	}
}
