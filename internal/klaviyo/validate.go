package klaviyo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/snippetd/snippetd/internal/apperr"
)

// Klaviyo's documented limits on one event (Events API "Limitations").
const (
	// MaxMetricName: a metric name must be shorter than 128 characters.
	MaxMetricName = 128
	// MaxProperties is the most top-level event properties.
	MaxProperties = 400
	// MaxStringBytes is the largest string value (100 KB).
	MaxStringBytes = 100 * 1024
	// MaxArrayItems is the longest array.
	MaxArrayItems = 4000
	// MaxDepth is the deepest nesting of objects and arrays, counting the
	// properties object itself as level 1.
	MaxDepth = 10
)

// minTime is the earliest time Klaviyo accepts ("after the year 1990").
var minTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

// Validate checks e against Klaviyo's documented limits as of now. See
// ValidateAt.
func (e Event) Validate() error { return e.ValidateAt(time.Now()) }

// ValidateAt checks e against Klaviyo's documented limits, with now as the
// reference for "at most a year ahead": a profile identifier, a metric name
// shorter than 128 characters, properties that are a JSON object with at
// most 400 keys, strings of at most 100 KB, arrays of at most 4,000 items,
// at most 10 levels, a time between 1990 and a year after now, an ISO 4217
// currency, and an encoded payload of at most 5 MB. The error is a
// *apperr.Error (EINVALID) naming the field, such as
// "properties.Items[2].Name", so that bad input is rejected before it is
// queued rather than dead-lettered hours later.
func (e Event) ValidateAt(now time.Time) error {
	_, err := e.validate(now.AddDate(1, 0, 0))
	return err
}

// validate is ValidateAt with latest = now.AddDate(1, 0, 0) (computed
// once per batch by checkBatch). props is what the one-pass scan found in
// the properties, so that the encoders need not scan them again (see
// encodable).
func (e *Event) validate(latest time.Time) (props propsMode, err error) {
	switch {
	case !e.Profile.HasIdentifier():
		return propsUnknown, apperr.FieldErrorf("profile", "needs at least one of email, phone_number, external_id, _kx, anonymous_id")
	case e.Metric == "":
		return propsUnknown, apperr.FieldErrorf("metric", "is required")
	case utf8.RuneCountInString(e.Metric) >= MaxMetricName:
		return propsUnknown, apperr.FieldErrorf("metric", "must be shorter than %d characters", MaxMetricName)
	case !e.Time.IsZero() && e.Time.Before(minTime):
		return propsUnknown, apperr.FieldErrorf("time", "must not be before 1990")
	case !e.Time.IsZero() && e.Time.After(latest):
		return propsUnknown, apperr.FieldErrorf("time", "must be at most one year in the future")
	case e.ValueCurrency != "" && !isCurrency(e.ValueCurrency):
		return propsUnknown, apperr.FieldErrorf("value_currency", "must be an ISO 4217 code such as USD")
	}
	// The one-pass scanner accepts only what the token walker accepts;
	// anything it cannot vouch for (an error, or a string long enough
	// that its decoded length needs decoding) goes to the walker, which
	// gives the exact answer and names the field.
	props = scanProperties(e.Properties)
	if props == propsUnknown {
		if err := checkProperties(e.Properties); err != nil {
			return propsUnknown, err
		}
	}
	switch {
	case len(e.UniqueID) > MaxStringBytes:
		return propsUnknown, apperr.FieldErrorf("unique_id", "must be at most %d bytes", MaxStringBytes)
	case len(e.Profile.Email) > MaxStringBytes:
		return propsUnknown, apperr.FieldErrorf("profile.email", "must be at most %d bytes", MaxStringBytes)
	case len(e.Profile.FirstName) > MaxStringBytes:
		return propsUnknown, apperr.FieldErrorf("profile.first_name", "must be at most %d bytes", MaxStringBytes)
	case len(e.Profile.LastName) > MaxStringBytes:
		return propsUnknown, apperr.FieldErrorf("profile.last_name", "must be at most %d bytes", MaxStringBytes)
	}
	// Encoding only to measure is the expensive part; skip it when even
	// the worst case of escaping cannot reach the limit.
	if encodedSizeBound(*e) <= MaxPayloadBytes {
		return props, nil
	}
	b, err := EncodeEvent(*e)
	if err != nil {
		return propsUnknown, apperr.FieldErrorf("properties", "cannot be encoded")
	}
	if len(b) > MaxPayloadBytes {
		return propsUnknown, apperr.FieldErrorf("properties", "make the event %d bytes, more than Klaviyo's %d", len(b), MaxPayloadBytes)
	}
	return props, nil
}

// checkProperties walks the properties JSON with a token decoder (numbers
// stay exact, nothing is built) and enforces the per-value limits.
func checkProperties(raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return apperr.FieldErrorf("properties", "is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return apperr.FieldErrorf("properties", "must be a JSON object")
	}
	n, err := walkObject(dec, "properties", 1)
	if err != nil {
		return err
	}
	if n > MaxProperties {
		return apperr.FieldErrorf("properties", "has %d properties, more than %d", n, MaxProperties)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apperr.FieldErrorf("properties", "holds data after the JSON object")
	}
	return nil
}

// walkObject consumes an object whose '{' was read and returns its key
// count.
func walkObject(dec *json.Decoder, path string, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, apperr.FieldErrorf(path, "is nested deeper than %d levels", MaxDepth)
	}
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, apperr.FieldErrorf(path, "is not valid JSON")
		}
		key, _ := tok.(string)
		n++
		if err := walkValue(dec, path+"."+key, depth); err != nil {
			return 0, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return 0, apperr.FieldErrorf(path, "is not valid JSON")
	}
	return n, nil
}

func walkValue(dec *json.Decoder, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return apperr.FieldErrorf(path, "is not valid JSON")
	}
	switch v := tok.(type) {
	case string:
		if len(v) > MaxStringBytes {
			return apperr.FieldErrorf(path, "is %d bytes, more than %d", len(v), MaxStringBytes)
		}
	case json.Delim:
		switch v {
		case '{':
			_, err := walkObject(dec, path, depth+1)
			return err
		case '[':
			if depth+1 > MaxDepth {
				return apperr.FieldErrorf(path, "is nested deeper than %d levels", MaxDepth)
			}
			i := 0
			for dec.More() {
				if i >= MaxArrayItems {
					return apperr.FieldErrorf(path, "has more than %d items", MaxArrayItems)
				}
				if err := walkValue(dec, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
					return err
				}
				i++
			}
			if _, err := dec.Token(); err != nil {
				return apperr.FieldErrorf(path, "is not valid JSON")
			}
		}
	}
	return nil
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// CheckBatch checks a bulk batch: 1 to 1,000 events, each valid, no two
// with the same profile, metric and unique_id (Klaviyo rejects the whole
// request then), and an encoded body of at most 5 MB. Field names are
// prefixed with the event's index, such as "events[3].metric".
func CheckBatch(events []Event, now time.Time) error { return checkBatch(events, now, nil) }

// checkBatch is CheckBatch; when props is not nil it also records what
// validate found in each event's properties.
func checkBatch(events []Event, now time.Time, props []propsMode) error {
	if len(events) == 0 {
		return apperr.FieldErrorf("events", "must hold at least one event")
	}
	if len(events) > MaxBulkEvents {
		return apperr.FieldErrorf("events", "holds %d events, more than %d", len(events), MaxBulkEvents)
	}
	latest := now.AddDate(1, 0, 0)
	dedup := newDedupIndex(events)
	for i := range events {
		e := &events[i]
		mode, err := e.validate(latest)
		if err != nil {
			if fe, ok := err.(*apperr.Error); ok {
				return apperr.FieldErrorf(fmt.Sprintf("events[%d].%s", i, fe.Field), "%s", fe.Message)
			}
			return err
		}
		if props != nil {
			props[i] = mode
		}
		if e.UniqueID == "" {
			continue
		}
		if j, ok := dedup.add(e, i); ok {
			return apperr.FieldErrorf(fmt.Sprintf("events[%d].unique_id", i), "repeats events[%d] for the same profile and metric", j)
		}
	}
	return nil
}

// dedupIndex finds events with equal DedupKeys in a batch. Without a NUL
// in any identifier, metric or unique_id, two DedupKeys are equal exactly
// when their parts are (the NULs that join them and the colon that ends a
// kind's prefix split them unambiguously), so the index keys on the parts
// and builds no string; a batch with a NUL keys on DedupKey itself.
type dedupIndex struct {
	parts map[dedupParts]int
	keys  map[string]int
}

type dedupParts struct {
	kind                  uint8
	ident, metric, unique string
}

func newDedupIndex(events []Event) dedupIndex {
	for i := range events {
		e := &events[i]
		_, ident := e.Profile.keyParts()
		if strings.IndexByte(ident, 0) >= 0 || strings.IndexByte(e.Metric, 0) >= 0 || strings.IndexByte(e.UniqueID, 0) >= 0 {
			return dedupIndex{keys: make(map[string]int, len(events))}
		}
	}
	return dedupIndex{parts: make(map[dedupParts]int, len(events))}
}

// add records events[i] (which has a unique_id), or returns the index of
// an earlier event with its DedupKey.
func (d dedupIndex) add(e *Event, i int) (int, bool) {
	if d.keys != nil {
		k := e.DedupKey()
		if j, ok := d.keys[k]; ok {
			return j, true
		}
		d.keys[k] = i
		return 0, false
	}
	kind, ident := e.Profile.keyParts()
	k := dedupParts{kind, ident, e.Metric, e.UniqueID}
	if j, ok := d.parts[k]; ok {
		return j, true
	}
	d.parts[k] = i
	return 0, false
}
