package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/snippets"
)

// Klaviyo refuses an event over its limits (klaviyo.MaxStringBytes per
// string, klaviyo.MaxArrayItems per array, and so on), so a render request
// that would push one is refused at render time (422 naming the field)
// instead of putting a push into a page that Klaviyo then drops. It also
// keeps hostile requests from filling the inspector's ring.

// checkInputLimits names the first string or array of a request body over
// Klaviyo's limits. Bodies too short to hold either are not decoded again.
func checkInputLimits(body []byte) error {
	if len(body) <= 2*klaviyo.MaxArrayItems && len(body) <= klaviyo.MaxStringBytes {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil // the strict decoder has answered or will answer this
	}
	return walkLimits(v, "")
}

func walkLimits(v any, field string) error {
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
			if err := walkLimits(c, fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, c := range x {
			if err := walkLimits(c, join(k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// pushLimitFloor is the shortest push that could be over a Klaviyo limit
// the inputs' own limits leave open (an array the builder concatenates
// from several inputs, the 5 MB payload).
const pushLimitFloor = 2 * klaviyo.MaxArrayItems

// checkPushes checks every object a snippet's pushes carry as Klaviyo
// checks event properties; an error names field, the snippet's input.
func checkPushes(pushes []snippets.Push, field string) error {
	for _, p := range pushes {
		if len(p) <= pushLimitFloor {
			continue
		}
		var args []json.RawMessage
		if json.Unmarshal(p, &args) != nil {
			continue
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
