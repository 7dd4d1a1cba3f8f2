package orders

import (
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/strictjson"
)

// timeHelp is what every refused time is told.
const timeHelp = "must be an ISO 8601 date-time such as 2024-05-01T10:00:00Z, 2024-05-01T10:00:00 (read in SNIPPETD_DEFAULT_TIMEZONE) or a date 2024-05-01 (midnight there)"

// ParseTime reads an order time: RFC 3339 with a zone or offset; an ISO
// 8601 date-time without one (the seed guide's 2022-11-08T00:00:00), read
// in loc; or a date alone, midnight in loc. Anything else is a 422 error
// without a field (the caller names it).
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// Fractional seconds are accepted after the seconds without a layout
	// for them.
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &apperr.Error{Code: apperr.EINVALID, Message: timeHelp}
}

// Decode is strictjson.Decode for order input (orders, actions, backfill
// lines): times go through ParseTime in loc, and a time it refuses is 422
// naming the field (placed_at, order.placed_at, time).
func Decode(data []byte, v any, loc *time.Location) error {
	return strictjson.DecodeWith(data, v, jsonv2.RejectUnknownMembers(true),
		jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, t *time.Time) error {
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			switch tok.Kind() {
			case 'n':
				*t = time.Time{}
				return nil
			case '"':
				*t, err = ParseTime(tok.String(), loc)
				return err
			}
			return &apperr.Error{Code: apperr.EINVALID, Message: timeHelp}
		})))
}

// Decode decodes order input with the service's time zone (see Decode).
func (s *Service) Decode(data []byte, v any) error { return Decode(data, v, s.Defaults.Location) }
