package snippets

import (
	"errors"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/shop"
)

// TestLoaderSignupSettings: the offers box's selector and the signup list
// reach the helper's script element as data-offers and data-list
// (attribute-escaped), only when set; a list id that is not one is refused
// naming signup_list_id.
func TestLoaderSignupSettings(t *testing.T) {
	o := LoaderOptions{PublicKey: "AbC123", HelperSrc: "/h.js", CheckoutOffersSelector: `input[name="offers"]`, SignupListID: "XyZ789"}
	got, err := render(t, Loader(o), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{` data-offers="input[name=&#34;offers&#34;]"`, ` data-list="XyZ789"`} {
		if !strings.Contains(got, want) {
			t.Errorf("loader lacks %s:\n%s", want, got)
		}
	}
	o.CheckoutOffersSelector, o.SignupListID = "", ""
	if got, _ := render(t, Loader(o), ""); strings.Contains(got, "data-offers") || strings.Contains(got, "data-list") {
		t.Errorf("unset settings were written:\n%s", got)
	}
	for _, id := range []string{"abc", "AbC12!", "AbC1234"} {
		o.SignupListID = id
		var e *shop.FieldError
		if err := o.Validate(); !errors.As(err, &e) || e.Field != "signup_list_id" {
			t.Errorf("list id %q: Validate() = %v, want an error on signup_list_id", id, err)
		}
	}
}
