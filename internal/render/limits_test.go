package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/snippets"
)

// refInputLimits is the limits check as a second decode of the body into
// any: the reference the one decode's check must agree with.
func refInputLimits(body []byte) error {
	if smallBody(body) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return refWalk(v, "")
}

func refWalk(v any, field string) error {
	join := func(k string) string {
		if field == "" {
			return k
		}
		return field + "." + k
	}
	switch x := v.(type) {
	case string:
		if len(x) > klaviyo.MaxStringBytes {
			return apperr.FieldErrorf(field, "is %d bytes; Klaviyo takes strings of at most %d", len(x), klaviyo.MaxStringBytes)
		}
	case []any:
		if len(x) > klaviyo.MaxArrayItems {
			return apperr.FieldErrorf(field, "has %d items; Klaviyo takes arrays of at most %d", len(x), klaviyo.MaxArrayItems)
		}
		for i, c := range x {
			if err := refWalk(c, fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, c := range x {
			if err := refWalk(c, join(k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// refPushes validates every object of every push, whatever its size.
func refPushes(pushes []snippets.Push, field string) error {
	for _, p := range pushes {
		var args []json.RawMessage
		if json.Unmarshal(p, &args) != nil {
			return fmt.Errorf("push %.40s is not a JSON array", p)
		}
		for _, a := range args {
			if len(a) == 0 || a[0] != '{' {
				continue
			}
			e := klaviyo.Event{Metric: "render", Profile: klaviyo.Profile{AnonymousID: "render"}, Properties: a, Time: time.Now()}
			if err := e.Validate(); err != nil {
				return apperr.FieldErrorf(field, "gives a push over Klaviyo's limits (%s: %s)", apperr.ErrorField(err), apperr.ErrorMessage(err))
			}
		}
	}
	return nil
}

// The limits are checked on the decoded request, and the pushes read back
// only when the request could put them over a limit: a request is refused
// exactly when the reference (the body decoded again, every push read
// back) refuses it, with the same error.
func TestLimitsAgreeWithTheReference(t *testing.T) {
	big := strings.Repeat("x", klaviyo.MaxStringBytes+1)
	fits := strings.Repeat("y", klaviyo.MaxStringBytes-5)
	list := func(prefix string, n int) string {
		q := make([]string, n)
		for i := range q {
			q[i] = fmt.Sprintf("%q", fmt.Sprintf("%s%d", prefix, i))
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	product := func(id, name, cats string) string {
		return fmt.Sprintf(`{"id":%q,"name":%q,"price":12.5,"categories":%s}`, id, name, cats)
	}
	line := func(p string) string { return `{"product":` + p + `,"quantity":1}` }
	cart := func(id string, lines ...string) string {
		return fmt.Sprintf(`{"id":%q,"items":[%s]}`, id, strings.Join(lines, ","))
	}
	half := list("a", klaviyo.MaxArrayItems/2+1)
	other := list("b", klaviyo.MaxArrayItems/2+1)
	p1, p2 := product("1", "Mug", half), product("2", "Tee", other)
	var lines []string
	for i := range klaviyo.MaxArrayItems + 1 {
		lines = append(lines, line(product(fmt.Sprint(i), "n", `[]`)))
	}
	cases := []struct{ snippet, body string }{
		{ViewedProduct, `{"product":` + product("1", big, `[]`) + `}`},
		{ViewedProduct, `{"product":` + product("1", fits, `[]`) + `}`},
		{ViewedProduct, `{"product":` + product("1", "Mug", list("c", klaviyo.MaxArrayItems+1)) + `}`},
		{ViewedProduct, `{"product":` + product("1", "Mug", list("c", klaviyo.MaxArrayItems)) + `}`},
		{ViewedProduct, `{"product":` + strings.Replace(product("1", "Mug", `[]`), `"id"`, `"description":"`+big+`","id"`, 1) + `}`},
		{AddedToCart, `{"cart":` + cart("c", line(p1), line(p2)) + `,"added":` + line(p1) + `}`},
		{AddedToCart, `{"cart":` + cart("c", line(p1), line(product("2", "Tee", `["z"]`))) + `,"added":` + line(p1) + `}`},
		{StartedCheckout, `{"cart":` + cart("c", line(p1), line(p2)) + `,"time":"2026-11-27T10:00:00Z"}`},
		{StartedCheckout, `{"cart":` + cart(fits[:len(fits)-20], line(product("1", "Mug", `[]`))) + `,"time":"2026-11-27T10:00:00Z"}`},
		{StartedCheckout, `{"cart":` + cart(fits, line(product("1", "Mug", `[]`))) + `,"time":"2026-11-27T10:00:00Z"}`},
		{StartedCheckout, `{"cart":` + cart("c", lines...) + `,"time":"2026-11-27T10:00:00Z"}`},
		{StartedCheckout, `{"cart":` + cart("c", lines[1:]...) + `,"time":"2026-11-27T10:00:00Z"}`},
		{Identify, `{"customer":{"email":"a@example.com","first_name":"` + big + `"}}`},
		{Identify, `{"customer":{"email":"a@example.com","first_name":"` + fits + `"}}`},
		{Loader, `{"public_key":"AbC123","checkout_email_selector":"` + big + `"}`},
		{ViewedCategory, `{"category":{"id":"c","name":"` + fits + `","product_ids":["1"]}}`},
		{SearchedSite, `{"search":{"term":"` + big + `","results_count":1}}`},
	}
	refused := 0
	for i, c := range cases {
		_, err := Renderer{}.Render(context.Background(), c.snippet, []byte(c.body))
		want := refInputLimits([]byte(c.body))
		if want == nil {
			// The pushes the snippet gives, unchecked, all read back.
			if s, _, derr := (Renderer{}).decode(context.Background(), c.snippet, []byte(c.body)); derr == nil {
				ps, _ := s.Pushes()
				want = refPushes(ps, inputField(c.snippet))
			}
		}
		if want == nil {
			if err != nil && strings.Contains(apperr.ErrorMessage(err), "Klaviyo") {
				t.Errorf("case %d (%s): refused %v; the reference takes it", i, c.snippet, err)
			}
			continue
		}
		refused++
		if err == nil || err.Error() != want.Error() {
			t.Errorf("case %d (%s): got %v\nwant %v", i, c.snippet, err, want)
		}
	}
	if refused < 8 {
		t.Errorf("only %d cases over a limit", refused)
	}
}
