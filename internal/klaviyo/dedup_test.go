package klaviyo_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// repeatReference is the repeat CheckBatch reported as it was written: a
// map of DedupKeys, as CheckBatch's error ("" for none).
func repeatReference(events []klaviyo.Event) string {
	seen := map[string]int{}
	for i, e := range events {
		if e.UniqueID == "" {
			continue
		}
		k := e.DedupKey()
		if j, ok := seen[k]; ok {
			return apperr.FieldErrorf(fmt.Sprintf("events[%d].unique_id", i), "repeats events[%d] for the same profile and metric", j).Error()
		}
		seen[k] = i
	}
	return ""
}

// checkRepeats fails unless CheckBatch of valid events reports what
// repeatReference reports.
func checkRepeats(t *testing.T, events []klaviyo.Event) {
	t.Helper()
	now := time.Now()
	for _, e := range events {
		if err := e.ValidateAt(now); err != nil {
			t.Skipf("invalid event: %v", err)
		}
	}
	got := ""
	if err := klaviyo.CheckBatch(events, now); err != nil {
		got = err.Error()
	}
	if want := repeatReference(events); got != want {
		t.Errorf("CheckBatch: %q, want %q", got, want)
	}
}

// dedupEvent is an event whose profile identifier of the given kind
// (0 email ... 4 anonymous_id) is ident.
func dedupEvent(kind uint8, ident, metric, uid string) klaviyo.Event {
	e := klaviyo.Event{Metric: metric, UniqueID: uid, Properties: json.RawMessage(`{}`)}
	switch kind % 5 {
	case 0:
		e.Profile.Email = ident
	case 1:
		e.Profile.PhoneNumber = ident
	case 2:
		e.Profile.ExternalID = ident
	case 3:
		e.Profile.Kx = ident
	default:
		e.Profile.AnonymousID = ident
	}
	return e
}

// TestCheckBatchRepeats: CheckBatch finds a repeated (profile, metric,
// unique_id) exactly when the DedupKeys are equal, NULs and colons
// included.
func TestCheckBatchRepeats(t *testing.T) {
	tests := map[string][]klaviyo.Event{
		"repeat":                 {dedupEvent(0, "a@x", "M", "1"), dedupEvent(0, "a@x", "M", "2"), dedupEvent(0, "a@x", "M", "1")},
		"other kind":             {dedupEvent(0, "x", "M", "1"), dedupEvent(1, "x", "M", "1")},
		"other metric":           {dedupEvent(3, "k", "M", "1"), dedupEvent(3, "k", "N", "1")},
		"colon in identifier":    {dedupEvent(2, "kx:a", "M", "1"), dedupEvent(3, "a", "M", "1"), dedupEvent(2, "kx:a", "M", "1")},
		"NULs collide":           {dedupEvent(0, "a\x00b", "c", "1"), dedupEvent(0, "a", "b\x00c", "1")},
		"NULs do not collide":    {dedupEvent(0, "a\x00b", "c", "1"), dedupEvent(0, "a\x00b", "c", "2")},
		"NUL in unique_id":       {dedupEvent(4, "a", "m\x00x", "1"), dedupEvent(4, "a", "m", "x\x001")},
		"stronger identifier":    {{Metric: "M", UniqueID: "1", Profile: klaviyo.Profile{Email: "e", Kx: "k"}, Properties: json.RawMessage(`{}`)}, {Metric: "M", UniqueID: "1", Profile: klaviyo.Profile{Email: "e"}, Properties: json.RawMessage(`{}`)}},
		"no unique id, no dedup": {dedupEvent(0, "a", "M", ""), dedupEvent(0, "a", "M", "")},
	}
	for name, events := range tests {
		t.Run(name, func(t *testing.T) { checkRepeats(t, events) })
	}
}

// FuzzCheckBatchRepeats: for any identifiers, metrics and unique ids,
// CheckBatch reports the repeat that a map of DedupKeys finds.
//
//	go test ./klaviyo -run '^$' -fuzz '^FuzzCheckBatchRepeats$' -fuzztime 1m -parallel 1
func FuzzCheckBatchRepeats(f *testing.F) {
	f.Add(uint8(0), "a\x00b", "c", "1", uint8(0), "a", "b\x00c", "1")
	f.Add(uint8(2), "kx:a", "M", "1", uint8(3), "a", "M", "1")
	f.Fuzz(func(t *testing.T, k1 uint8, i1, m1, u1 string, k2 uint8, i2, m2, u2 string) {
		checkRepeats(t, []klaviyo.Event{dedupEvent(k1, i1, m1, u1), dedupEvent(k2, i2, m2, u2), dedupEvent(k1, i1, m1, u1+"x")})
	})
}
