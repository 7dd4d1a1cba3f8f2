package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// identify takes a location and flat custom properties and pushes them as
// the current profile API takes them; strings stay script-safe and
// numbers exact.
func TestRenderIdentifyLocationAndProperties(t *testing.T) {
	body := `{"customer":{"email":"ann@example.com","location":{"city":"Lisbon","region":"Lisboa","country":"Portugal","zip":"1100-148","address1":"Rua Augusta 1","address2":"2º"},` +
		`"properties":{"pseudonym":"</script>Dr. Octopus","points":12345678901234567890.5,"vip":true}}}`
	status, pushes, e := renderJSON(t, "", "identify", body)
	if status != 200 || len(pushes) != 1 {
		t.Fatalf("status %d: %+v", status, e)
	}
	if strings.Contains(string(pushes[0]), "</script>") {
		t.Errorf("push is not script-safe: %s", pushes[0])
	}
	var got []json.RawMessage
	if err := json.Unmarshal(pushes[0], &got); err != nil || len(got) != 2 {
		t.Fatalf("push %s: %v", pushes[0], err)
	}
	var attrs struct {
		Email      string            `json:"email"`
		Location   map[string]string `json:"location"`
		Properties map[string]any    `json:"properties"`
	}
	d := json.NewDecoder(strings.NewReader(string(got[1])))
	d.UseNumber()
	if err := d.Decode(&attrs); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"city": "Lisbon", "region": "Lisboa", "country": "Portugal", "zip": "1100-148", "address1": "Rua Augusta 1", "address2": "2º"}
	if d := cmp.Diff(want, attrs.Location); d != "" {
		t.Errorf("location (-want +got):\n%s", d)
	}
	wantProps := map[string]any{"pseudonym": "</script>Dr. Octopus", "points": json.Number("12345678901234567890.5"), "vip": true}
	if d := cmp.Diff(wantProps, attrs.Properties); d != "" {
		t.Errorf("properties (-want +got):\n%s", d)
	}
}

func TestRenderIdentifyProfileRejections(t *testing.T) {
	many := make([]string, 401)
	for i := range many {
		many[i] = fmt.Sprintf(`"p%d":1`, i)
	}
	for _, tc := range []struct {
		name, customer, field string
	}{
		{"nested property", `"properties":{"a":{"b":1}}`, "customer.properties.a"},
		{"array property", `"properties":{"skus":["1"]}`, "customer.properties.skus"},
		{"null property", `"properties":{"a":null}`, "customer.properties.a"},
		{"special name", `"properties":{"$email":"x@y.co"}`, "customer.properties.$email"},
		{"blank name", `"properties":{" ":"x"}`, "customer.properties"},
		{"not an object", `"properties":["a"]`, "customer.properties"},
		{"too many", `"properties":{` + strings.Join(many, ",") + `}`, "customer.properties"},
		{"string too long", `"properties":{"a":"` + strings.Repeat("x", 100*1024+1) + `"}`, "customer.properties.a"},
		{"long city", `"location":{"city":"` + strings.Repeat("x", 256) + `"}`, "customer.location.city"},
		{"control in zip", `"location":{"zip":"1\u0000"}`, "customer.location.zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, e := renderJSON(t, "", "identify", `{"customer":{"email":"ann@example.com",`+tc.customer+`}}`)
			if status != 422 || e.Error.Code != "invalid" || e.Error.Field != tc.field {
				t.Errorf("got %d %+v, want 422 invalid %s", status, e.Error, tc.field)
			}
		})
	}
	// An unknown location member is the strict decoder's 400, naming it.
	status, _, e := renderJSON(t, "", "identify", `{"customer":{"email":"ann@example.com","location":{"town":"x"}}}`)
	if status != 400 || !strings.Contains(e.Error.Field+e.Error.Message, "town") {
		t.Errorf("unknown location member: %d %+v", status, e.Error)
	}
}
