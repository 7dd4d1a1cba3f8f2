package klaviyo_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// Klaviyo's documented limits, written out rather than taken from the
// package's constants so that moving a constant is a failing test.
const (
	docMetricRunes = 128 // a metric name is shorter than this
	docStringBytes = 100 * 1024
	docArrayItems  = 4000
	docDepth       = 10
	docProperties  = 400
	docBatch       = 1000
	docPayload     = 5 * 1024 * 1024
)

var validateNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func limitsEvent() klaviyo.Event {
	return klaviyo.Event{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"},
		Properties: json.RawMessage(`{}`), Time: validateNow, UniqueID: "u-1"}
}

// nest returns {"a":{"a":...1...}} holding levels objects, the outermost
// being the properties themselves.
func nest(levels int) string {
	return strings.Repeat(`{"a":`, levels) + "1" + strings.Repeat("}", levels)
}

// nestArrays returns {"a":[[...[1]...]]}: the properties object and
// levels-1 arrays.
func nestArrays(levels int) string {
	return `{"a":` + strings.Repeat("[", levels-1) + "1" + strings.Repeat("]", levels-1) + "}"
}

func numbers(n int) string { return "[" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + "]" }

func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	return b.String() + "}"
}

// TestValidateAtEachLimit: every per-event limit of Klaviyo at the limit
// (accepted) and one past it (refused as EINVALID naming the field).
func TestValidateAtEachLimit(t *testing.T) {
	props := func(s string) func(*klaviyo.Event) {
		return func(e *klaviyo.Event) { e.Properties = json.RawMessage(s) }
	}
	str := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		mod   func(*klaviyo.Event)
		field string
	}{
		{"metric of 127 characters, 254 bytes", func(e *klaviyo.Event) { e.Metric = strings.Repeat("é", docMetricRunes-1) }, ""},
		{"metric of 128 characters", func(e *klaviyo.Event) { e.Metric = strings.Repeat("é", docMetricRunes) }, "metric"},
		{"400 properties", props(manyKeys(docProperties)), ""},
		{"401 properties", props(manyKeys(docProperties + 1)), "properties"},
		{"string at 100 KB", props(`{"s":"` + str(docStringBytes) + `"}`), ""},
		{"string past 100 KB", props(`{"s":"` + str(docStringBytes+1) + `"}`), "properties.s"},
		{"escaped string at 100 KB decoded", props(`{"s":"` + strings.Repeat(`\u00e9`, docStringBytes/2) + `"}`), ""},
		{"escaped string past 100 KB decoded", props(`{"s":"` + strings.Repeat(`\u00e9`, docStringBytes/2) + `x"}`), "properties.s"},
		{"nested string past 100 KB", props(`{"Items":[{"n":1},{"Name":"` + str(docStringBytes+1) + `"}]}`), "properties.Items[1].Name"},
		{"array of 4,000", props(`{"a":` + numbers(docArrayItems) + `}`), ""},
		{"array of 4,001", props(`{"a":` + numbers(docArrayItems+1) + `}`), "properties.a"},
		{"nested array of 4,001", props(`{"o":{"a":` + numbers(docArrayItems+1) + `}}`), "properties.o.a"},
		{"10 levels of objects", props(nest(docDepth)), ""},
		{"11 levels of objects", props(nest(docDepth + 1)), "properties" + strings.Repeat(".a", docDepth)},
		{"10 levels with arrays", props(nestArrays(docDepth)), ""},
		{"11 levels with arrays", props(nestArrays(docDepth + 1)), "properties.a" + strings.Repeat("[0]", docDepth-1)},
		{"unique_id at 100 KB", func(e *klaviyo.Event) { e.UniqueID = str(docStringBytes) }, ""},
		{"unique_id past 100 KB", func(e *klaviyo.Event) { e.UniqueID = str(docStringBytes + 1) }, "unique_id"},
		{"email at 100 KB", func(e *klaviyo.Event) { e.Profile.Email = str(docStringBytes-12) + "@example.com" }, ""},
		{"email past 100 KB", func(e *klaviyo.Event) { e.Profile.Email = str(docStringBytes-11) + "@example.com" }, "profile.email"},
		{"first_name at 100 KB", func(e *klaviyo.Event) { e.Profile.FirstName = str(docStringBytes) }, ""},
		{"first_name past 100 KB", func(e *klaviyo.Event) { e.Profile.FirstName = str(docStringBytes + 1) }, "profile.first_name"},
		{"last_name at 100 KB", func(e *klaviyo.Event) { e.Profile.LastName = str(docStringBytes) }, ""},
		{"last_name past 100 KB", func(e *klaviyo.Event) { e.Profile.LastName = str(docStringBytes + 1) }, "profile.last_name"},
		{"a year ahead", func(e *klaviyo.Event) { e.Time = validateNow.AddDate(1, 0, 0) }, ""},
		{"a year and a second ahead", func(e *klaviyo.Event) { e.Time = validateNow.AddDate(1, 0, 0).Add(time.Second) }, "time"},
		{"1990", func(e *klaviyo.Event) { e.Time = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC) }, ""},
		{"a second before 1990", func(e *klaviyo.Event) { e.Time = time.Date(1989, 12, 31, 23, 59, 59, 0, time.UTC) }, "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := limitsEvent()
			tt.mod(&e)
			checkValidateErr(t, e.ValidateAt(validateNow), tt.field)
		})
	}
}

// TestPayloadLimit: an event whose encoding is exactly 5 MB is accepted,
// one byte more is refused naming the properties. The properties are
// strings under the per-string limit, the last one sized so that the
// encoded event lands on the limit.
func TestPayloadLimit(t *testing.T) {
	build := func(last int) klaviyo.Event {
		var b strings.Builder
		b.WriteString("{")
		for i := range 51 {
			fmt.Fprintf(&b, `"p%d":"%s",`, i, strings.Repeat("x", docStringBytes))
		}
		fmt.Fprintf(&b, `"last":"%s"}`, strings.Repeat("y", last))
		e := limitsEvent()
		e.Properties = json.RawMessage(b.String())
		return e
	}
	e := build(0)
	body, err := klaviyo.EncodeEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	last := docPayload - len(body)
	if last <= 0 || last > docStringBytes {
		t.Fatalf("fixture: %d bytes before the last string; adjust the count of strings", len(body))
	}
	at := build(last)
	if body, _ := klaviyo.EncodeEvent(at); len(body) != docPayload {
		t.Fatalf("fixture encodes to %d bytes, want %d", len(body), docPayload)
	}
	checkValidateErr(t, at.ValidateAt(validateNow), "")
	checkValidateErr(t, build(last+1).ValidateAt(validateNow), "properties")
}

// TestBulkBatchLimit: a bulk request holds at most 1,000 events.
func TestBulkBatchLimit(t *testing.T) {
	encs := make([]klaviyo.Encoded, docBatch+1)
	for i := range encs {
		e := limitsEvent()
		e.UniqueID = fmt.Sprint("u-", i)
		enc, err := klaviyo.Encode(e, validateNow)
		if err != nil {
			t.Fatal(err)
		}
		encs[i] = enc
	}
	if _, err := klaviyo.BulkRequest(encs[:docBatch]); err != nil {
		t.Errorf("%d events refused: %v", docBatch, err)
	}
	if _, err := klaviyo.BulkRequest(encs); err == nil {
		t.Errorf("%d events accepted", docBatch+1)
	}
	if _, err := klaviyo.BulkRequest(nil); err == nil {
		t.Error("an empty bulk request accepted")
	}
}

func checkValidateErr(t *testing.T, err error, field string) {
	t.Helper()
	switch {
	case field == "" && err != nil:
		t.Errorf("refused at the limit: %v", err)
	case field != "" && err == nil:
		t.Errorf("accepted past the limit, want an error naming %s", field)
	case field != "":
		if got := apperr.ErrorField(err); got != field {
			t.Errorf("error names %q, want %q (%.200v)", got, field, err)
		}
		if got := apperr.ErrorCode(err); got != apperr.EINVALID {
			t.Errorf("code %q, want %q", got, apperr.EINVALID)
		}
	}
}
