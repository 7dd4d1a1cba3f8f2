package klaviyo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

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
	_, err := Encode(e, now)
	return FieldError(err)
}

// FieldError words an Encode error as ValidateAt does: an event over 5 MB
// names its properties (a *apperr.Error) instead of a *TooLargeError.
func FieldError(err error) error {
	var big *TooLargeError
	if errors.As(err, &big) {
		return apperr.FieldErrorf("properties", "make the event %d bytes, more than Klaviyo's %d", big.Size, MaxPayloadBytes)
	}
	return err
}

// TooLargeError is Encode's error for an event whose request body would
// exceed Klaviyo's 5 MB.
type TooLargeError struct{ Size int }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the event encodes to %d bytes; Klaviyo accepts at most %d per request", e.Size, MaxPayloadBytes)
}

// check is ValidateAt without the size of the encoded event, which only
// encoding tells. It returns the properties as Encode writes them.
func (e *Event) check(now time.Time, w *propertiesWriter) (jsontext.Value, error) {
	switch {
	case !e.Profile.HasIdentifier():
		return nil, apperr.FieldErrorf("profile", "needs at least one of email, phone_number, external_id, _kx, anonymous_id")
	case strings.TrimSpace(e.Metric) == "":
		return nil, apperr.FieldErrorf("metric", "is required")
	case utf8.RuneCountInString(e.Metric) >= MaxMetricName:
		return nil, apperr.FieldErrorf("metric", "must be shorter than %d characters", MaxMetricName)
	case !e.Time.IsZero() && e.Time.Before(minTime):
		return nil, apperr.FieldErrorf("time", "must not be before 1990")
	case !e.Time.IsZero() && e.Time.After(now.AddDate(1, 0, 0)):
		return nil, apperr.FieldErrorf("time", "must be at most one year in the future")
	case e.ValueCurrency != "" && !isCurrency(e.ValueCurrency):
		return nil, apperr.FieldErrorf("value_currency", "must be an ISO 4217 code such as USD")
	}
	props, err := w.check(e.Properties)
	if err != nil {
		return nil, err
	}
	switch {
	case len(e.UniqueID) > MaxStringBytes:
		return nil, apperr.FieldErrorf("unique_id", "must be at most %d bytes", MaxStringBytes)
	case len(e.Profile.Email) > MaxStringBytes:
		return nil, apperr.FieldErrorf("profile.email", "must be at most %d bytes", MaxStringBytes)
	case len(e.Profile.FirstName) > MaxStringBytes:
		return nil, apperr.FieldErrorf("profile.first_name", "must be at most %d bytes", MaxStringBytes)
	case len(e.Profile.LastName) > MaxStringBytes:
		return nil, apperr.FieldErrorf("profile.last_name", "must be at most %d bytes", MaxStringBytes)
	}
	return props, nil
}

// blankProperties reports properties sent as {}: none, only whitespace, or
// null.
func blankProperties(raw []byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// propertiesOptions read properties as encoding/json did before they are
// sent: duplicate names are kept, invalid UTF-8 becomes U+FFFD.
var propertiesOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// propertiesWriter holds what checking and writing properties needs, kept
// in a pool between events.
type propertiesWriter struct {
	in  bytes.Reader
	dec jsontext.Decoder
	out bytes.Buffer
	enc jsontext.Encoder
}

var propertiesWriters = sync.Pool{New: func() any { return new(propertiesWriter) }}

// maxPooledProperties bounds the buffer a pooled writer keeps.
const maxPooledProperties = 64 << 10

func (w *propertiesWriter) release() {
	if w.out.Cap() > maxPooledProperties {
		return
	}
	w.in.Reset(nil)
	propertiesWriters.Put(w)
}

// check reads the properties once, token by token (numbers stay
// exact, nothing is built), enforces Klaviyo's per-value limits, naming
// the first field that breaks one, and writes them in the same pass as the
// JSON v2 encoder writes a jsontext.Value with encodeOptions (compact,
// strings in canonical form, invalid UTF-8 as U+FFFD): what Encode sends.
// Blank properties are {}. The result is w's until w is used again.
func (w *propertiesWriter) check(raw []byte) (jsontext.Value, error) {
	if blankProperties(raw) {
		return jsontext.Value(`{}`), nil
	}
	w.in.Reset(raw)
	d := &w.dec
	d.Reset(&w.in, propertiesOptions...)
	if d.PeekKind() != '{' {
		if _, err := d.ReadValue(); err != nil {
			return nil, apperr.FieldErrorf("properties", "is not valid JSON")
		}
		return nil, apperr.FieldErrorf("properties", "must be a JSON object")
	}
	out := &w.out
	out.Reset()
	enc := &w.enc
	enc.Reset(out, propertiesOptions...)
	members := 0
	for {
		depth := d.StackDepth()
		parent, n := d.StackIndex(depth)
		if depth == 0 && n > 0 {
			break // the properties object is closed
		}
		if parent == '{' && n%2 == 0 && depth == 1 {
			if d.PeekKind() == '"' {
				members++
			}
		}
		if parent == '[' && n >= MaxArrayItems && d.PeekKind() != ']' {
			return nil, apperr.FieldErrorf(fieldPath(d, d.StackPointer().Parent()), "has more than %d items", MaxArrayItems)
		}
		isValue := parent != '{' || n%2 == 1
		if d.PeekKind() == '"' && isValue {
			v, err := d.ReadValue()
			if err != nil {
				return nil, apperr.FieldErrorf(fieldPath(d, d.StackPointer()), "is not valid JSON")
			}
			if len(v)-2 > MaxStringBytes {
				s, _ := jsontext.AppendUnquote(nil, v)
				if len(s) > MaxStringBytes {
					return nil, apperr.FieldErrorf(fieldPath(d, d.StackPointer()), "is %d bytes, more than %d", len(s), MaxStringBytes)
				}
			}
			if err := enc.WriteValue(v); err != nil {
				return nil, apperr.FieldErrorf(fieldPath(d, d.StackPointer()), "cannot be encoded: %v", err)
			}
			continue
		}
		tok, err := d.ReadToken()
		if err != nil {
			return nil, apperr.FieldErrorf(fieldPath(d, d.StackPointer()), "is not valid JSON")
		}
		if k := tok.Kind(); (k == '{' || k == '[') && d.StackDepth() > MaxDepth {
			return nil, apperr.FieldErrorf(fieldPath(d, d.StackPointer()), "is nested deeper than %d levels", MaxDepth)
		}
		if err := enc.WriteToken(tok); err != nil {
			return nil, apperr.FieldErrorf(fieldPath(d, d.StackPointer()), "cannot be encoded: %v", err)
		}
	}
	if members > MaxProperties {
		return nil, apperr.FieldErrorf("properties", "has %d properties, more than %d", members, MaxProperties)
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return nil, apperr.FieldErrorf("properties", "holds data after the JSON object")
	}
	// The encoder ends a top-level value with a newline.
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// fieldPath names the value p points to in d's input the way errors name
// fields: "properties.Items[2].Name".
func fieldPath(d *jsontext.Decoder, p jsontext.Pointer) string {
	path := []byte("properties")
	level := 1
	for tok := range p.Tokens() {
		if kind, _ := d.StackIndex(level); kind == '[' {
			path = append(append(append(path, '['), tok...), ']')
		} else {
			path = append(append(path, '.'), tok...)
		}
		level++
	}
	return string(path)
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
