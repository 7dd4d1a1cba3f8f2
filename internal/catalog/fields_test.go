package catalog

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCustomFieldRules(t *testing.T) {
	long := strings.Repeat("n", maxFieldName+1)
	big := `"` + strings.Repeat("x", MaxFieldsBytes) + `"`
	for _, tc := range []struct {
		name, members string
		want          []Field
		field         string // the problem's field, when refused
	}{
		{"kinds", `"a":"s","b":-1.5e3,"c":true,"d":null`, []Field{{"a", "s", true}, {"b", "-1.5e3", false}, {"c", "true", false}}, ""},
		{"unicode name", `"größe_2":"L"`, []Field{{"größe_2", "L", true}}, ""},
		{"control characters cleaned", `"a":"x\u0007y\tz"`, []Field{{"a", "xy\tz", true}}, ""},
		{"object", `"a":"s","b":{"c":1}`, nil, "b"},
		{"array", `"b":[1]`, nil, "b"},
		{"empty name", `"":"x"`, nil, ""},
		{"space", `"top pick":true`, nil, "top pick"},
		{"colon", `"x:y":1`, nil, "x:y"},
		{"digit first", `"2nd":1`, nil, "2nd"},
		{"markup", `"a<b":1`, nil, "a<b"},
		{"control in name", `"a\u0001":1`, nil, "a\x01"},
		{"too long", `"` + long + `":1`, nil, long},
		{"feed name", `"image_link":"x"`, nil, "image_link"},
		{"other case", `"SKU":"x"`, nil, "SKU"},
		{"too big", `"a":` + big, nil, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := `{"id":"p",` + tc.members + `}`
			p, prob := decodeProduct([]byte(raw), 1)
			if prob != nil {
				t.Fatalf("decode: %+v", prob)
			}
			got, prob := fieldsOf(p)
			refused := tc.field != "" || tc.name == "empty name"
			if refused {
				if prob == nil || prob.Field != tc.field || prob.ID != "p" {
					t.Errorf("problem %+v, want one naming %q", prob, tc.field)
				}
				return
			}
			if prob != nil {
				t.Fatalf("refused: %+v", prob)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
