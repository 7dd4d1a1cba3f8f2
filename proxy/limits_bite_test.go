package proxy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
)

// TestDefaultEventLimits: each documented default of EventLimits (50
// events, 400 properties, 10 levels, 4,000 items, 100,000-byte strings,
// a value of 10,000,000.00) accepted at the limit and refused one past it
// with the field named: the properties pass a fast scan, and a scan that
// refuses hands them to a walk that must refuse them too.
func TestDefaultEventLimits(t *testing.T) {
	v := NewValidator(nil, EventLimits{})
	one := func(props string) string {
		return `{"events":[{"metric":"Viewed Product","properties":` + props + `}]}`
	}
	keys := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%d":1`, i)
		}
		return b.String() + "}"
	}
	// nest(n) is a properties object n levels deep, counting itself.
	nest := func(n int) string {
		return strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1)
	}
	// nestArray(n) is n levels deep with an array as the deepest level.
	nestArray := func(n int) string {
		return strings.Repeat(`{"a":`, n-1) + `[]` + strings.Repeat(`}`, n-1)
	}
	items := func(n int) string { return `{"a":[` + strings.TrimSuffix(strings.Repeat("1,", n), ",") + `]}` }
	str := func(n int) string { return `{"a":"` + strings.Repeat("x", n) + `"}` }
	events := func(n int) string {
		return `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"metric":"Viewed Product"},`, n), ",") + `]}`
	}
	value := func(v string) string { return `{"events":[{"metric":"Added to Cart","value":` + v + `}]}` }
	for _, tt := range []struct {
		name, ok, over, field string
	}{
		{"events", events(50), events(51), "events"},
		{"properties", one(keys(400)), one(keys(401)), "events[0].properties"},
		{"object depth", one(nest(10)), one(nest(11)), "events[0].properties"},
		{"array depth", one(nestArray(10)), one(nestArray(11)), "events[0].properties"},
		{"array items", one(items(4000)), one(items(4001)), "events[0].properties.a"},
		{"string bytes", one(str(100_000)), one(str(100_001)), "events[0].properties.a"},
		{"value", value("10000000"), value("10000000.01"), "events[0].value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.DecodeBatch([]byte(tt.ok), testNow); err != nil {
				t.Errorf("at the limit: %v", err)
			}
			_, err := v.DecodeBatch([]byte(tt.over), testNow)
			if apperr.ErrorCode(err) != apperr.EINVALID || !strings.HasPrefix(apperr.ErrorField(err), tt.field) {
				t.Errorf("one past the limit: %v, want EINVALID naming %s", err, tt.field)
			}
		})
	}
}
