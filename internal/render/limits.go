package render

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/strictjson"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/snippets"
)

// Klaviyo refuses an event over its limits (klaviyo.MaxStringBytes per
// string, klaviyo.MaxArrayItems per array, and so on), so a render request
// that would push one is refused at render time (422 naming the field)
// instead of putting a push into a page that Klaviyo then drops. It also
// keeps hostile requests from filling the inspector's ring.

// smallBody reports whether a body is too short to hold a string or an
// array over Klaviyo's limits, or to make pushes that are.
func smallBody(body []byte) bool {
	return len(body) <= 2*klaviyo.MaxArrayItems && len(body) <= klaviyo.MaxStringBytes
}

// decodeInto decodes body strictly into req (a pointer to a request) and
// names the first string or array of it over Klaviyo's limits; it returns
// the bound of the pushes built from it (see pushSize), the array bound
// left to the caller, which knows what the builder joins.
func decodeInto(body []byte, req any) (pushSize, error) {
	if err := strictjson.Decode(body, req); err != nil {
		return pushSize{}, err
	}
	if smallBody(body) {
		return pushSize{}, nil
	}
	size := pushSize{large: true}
	if err := walkLimits(reflect.ValueOf(req), "", &size.str); err != nil {
		return pushSize{}, err
	}
	return size, nil
}

// walkLimits walks a decoded request in member order as its JSON names
// it, refusing a string or array over Klaviyo's limits and keeping the
// length of the longest string in longest.
func walkLimits(v reflect.Value, field string, longest *int) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walkLimits(v.Elem(), field, longest)
	case reflect.String:
		n := v.Len()
		if n > klaviyo.MaxStringBytes {
			return apperr.FieldErrorf(field, "is %d bytes; Klaviyo takes strings of at most %d", n, klaviyo.MaxStringBytes)
		}
		*longest = max(*longest, n)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // raw JSON kept for a later decode, which checks it
		}
		if v.Len() > klaviyo.MaxArrayItems {
			return apperr.FieldErrorf(field, "has %d items; Klaviyo takes arrays of at most %d", v.Len(), klaviyo.MaxArrayItems)
		}
		for i := range v.Len() {
			if err := walkLimits(v.Index(i), fmt.Sprintf("%s[%d]", field, i), longest); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
				continue
			case f.Anonymous && name == "":
				if err := walkLimits(v.Field(i), field, longest); err != nil {
					return err
				}
				continue
			case name == "":
				name = f.Name
			}
			if field != "" {
				name = field + "." + name
			}
			if err := walkLimits(v.Field(i), name, longest); err != nil {
				return err
			}
		}
	}
	return nil
}

// pushSize bounds the objects a snippet's pushes carry, from its decoded
// request: every string in them is a request string as it is (the strict
// decoder took valid UTF-8 only) or the server's own, at most str bytes;
// every array holds at most array items (a cart's lines, the categories of
// a product or of all of a cart's lines, a page's product ids). A request
// that is not large cannot give a push over a limit.
type pushSize struct {
	large      bool
	str, array int
}

// eventIDExtra is what a Started Checkout's $event_id adds to the cart id:
// "_" and the unix second.
const eventIDExtra = 1 + 20

func (s *pushSize) product(p shop.Product) {
	s.array = max(s.array, len(p.Categories))
}

func (s *pushSize) cart(c shop.Cart) {
	s.str = max(s.str, len(c.CheckoutURL)) + eventIDExtra
	cats := 0
	for _, l := range c.Items {
		s.product(l.Product)
		cats += len(l.Product.Categories)
	}
	s.array = max(s.array, len(c.Items), cats)
}

// fits reports whether the pushes ps, bounded by s, are within Klaviyo's
// limits whatever they hold: their strings and arrays within the limits,
// and each small enough that its event could not reach 5 MB.
func (s pushSize) fits(ps []snippets.Push) bool {
	if !s.large {
		return true
	}
	if s.str > klaviyo.MaxStringBytes || s.array > klaviyo.MaxArrayItems {
		return false
	}
	for _, p := range ps {
		if len(p) > klaviyo.MaxPayloadBytes/2 {
			return false
		}
	}
	return true
}

// pushLimitFloor is the shortest push that could be over a Klaviyo limit
// the inputs' own limits leave open (an array the builder concatenates
// from several inputs, the 5 MB payload).
const pushLimitFloor = 2 * klaviyo.MaxArrayItems

// checkPushes checks every object a snippet's pushes carry as Klaviyo
// checks event properties; an error names field, the snippet's input. The
// pushes are read back only when their request's size could put them
// over a limit (size.fits), to name the one they break.
func checkPushes(pushes []snippets.Push, field string, size pushSize) error {
	if size.fits(pushes) {
		return nil
	}
	for _, p := range pushes {
		if len(p) <= pushLimitFloor {
			continue
		}
		d := jsontext.NewDecoder(bytes.NewReader(p))
		if tok, err := d.ReadToken(); err != nil || tok.Kind() != '[' {
			continue
		}
		for d.PeekKind() != ']' {
			a, err := d.ReadValue()
			if err != nil {
				break
			}
			if a.Kind() != '{' {
				continue
			}
			e := klaviyo.Event{Metric: "render", Profile: klaviyo.Profile{AnonymousID: "render"}, Properties: []byte(a), Time: time.Now()}
			if err := e.Validate(); err != nil {
				return apperr.FieldErrorf(field, "gives a push over Klaviyo's limits (%s: %s)", apperr.ErrorField(err), apperr.ErrorMessage(err))
			}
		}
	}
	return nil
}
