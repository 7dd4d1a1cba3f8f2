package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// Record is one stored event as the inspector shows it: what was queued,
// by whom, and what happened to it so far.
type Record struct {
	ID       int64  `json:"id"`
	UniqueID string `json:"unique_id"`
	Metric   string `json:"metric"`
	// Profile is the profile key, such as "email:a@example.com".
	Profile string `json:"profile"`
	Source  string `json:"source"`
	State   string `json:"state"`
	// Attempts counts the requests that carried this event.
	Attempts int       `json:"attempts"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// LastStatus is Klaviyo's last HTTP status for it (0: none yet, or no
	// response), LastResponse its error body or the transport error.
	LastStatus   int    `json:"last_status"`
	LastResponse string `json:"last_response,omitempty"`
	// Payload is the stored klaviyo.Event as JSON, as Klaviyo receives
	// it (the time to the second, in UTC).
	Payload json.RawMessage `json:"payload"`
}

// Query selects records for List. Empty fields match everything.
type Query struct {
	Metric string
	// State is StatePending, StateDelivered or StateDead.
	State  string
	Source string
	// Profile matches a profile key ("email:a@example.com") exactly, or
	// an identifier value ("a@example.com") of any kind.
	Profile string
	// BeforeID pages backwards: only records with a smaller id.
	BeforeID int64
	// Limit caps the records returned (default 100, at most 1,000).
	Limit int
}

// MaxListLimit is the most records one List returns.
const MaxListLimit = 1000

var profileKinds = []string{"email:", "phone:", "external:", "kx:", "anon:"}

// List returns the records matching q, newest first.
func List(ctx context.Context, d *db.DB, q Query) ([]Record, error) {
	switch q.State {
	case "", StatePending, StateDelivered, StateDead:
	default:
		return nil, apperr.FieldErrorf("state", "must be pending, delivered or dead")
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, MaxListLimit)
	if err := migrate(ctx, d); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("metric", q.Metric)
	if q.State != "" {
		// A literal (one of the three checked above), not a parameter,
		// so that the planner can use the state's partial index.
		where = append(where, "state = '"+q.State+"'")
	}
	eq("source", q.Source)
	if p := q.Profile; p != "" {
		if strings.Contains(p, ":") && hasKind(p) {
			eq("profile_key", p)
		} else {
			where = append(where, "profile_key IN (?"+strings.Repeat(",?", len(profileKinds)-1)+")")
			for _, k := range profileKinds {
				args = append(args, k+p)
			}
		}
	}
	if q.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, q.BeforeID)
	}
	sqlq := `SELECT ` + recordCols + ` FROM outbox_events`
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq += " ORDER BY id DESC LIMIT ?"
	args = append(args, q.Limit)
	rs, err := d.QueryContext(ctx, d.Rebind(sqlq), args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []Record
	for rs.Next() {
		r, err := scanRecord(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// Get returns the record with id, or ENOTFOUND.
func Get(ctx context.Context, d *db.DB, id int64) (Record, error) {
	if err := migrate(ctx, d); err != nil {
		return Record{}, err
	}
	r, err := scanRecord(d.QueryRowContext(ctx, d.Rebind(`SELECT `+recordCols+` FROM outbox_events WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, apperr.Errorf(apperr.ENOTFOUND, "no event %d in the outbox", id)
	}
	return r, err
}

func hasKind(p string) bool {
	for _, k := range profileKinds {
		if strings.HasPrefix(p, k) {
			return true
		}
	}
	return false
}

const recordCols = `id, unique_id, metric, profile_key, source, state, attempts, created_at, updated_at, last_status, last_error, payload, profile, profile_at`

func scanRecord(s interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var created, updated int64
	var payload, profile []byte
	var profileAt int
	if err := s.Scan(&r.ID, &r.UniqueID, &r.Metric, &r.Profile, &r.Source, &r.State, &r.Attempts, &created, &updated, &r.LastStatus, &r.LastResponse, &payload, &profile, &profileAt); err != nil {
		return r, err
	}
	r.Created, r.Updated = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	r.Payload = payload
	if len(profile) > 0 { // stored as JSON:API parts (see storedEvent)
		e, err := klaviyo.Encoded{Attributes: payload, Profile: profile, ProfileAt: profileAt}.Event()
		if err != nil {
			return r, fmt.Errorf("outbox: stored event %d: %w", r.ID, err)
		}
		if r.Payload, err = json.Marshal(e); err != nil {
			return r, fmt.Errorf("outbox: stored event %d: %w", r.ID, err)
		}
	}
	return r, nil
}
