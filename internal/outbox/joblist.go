package outbox

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
)

// JobKinds lists the job kinds, in the order listings show them.
var JobKinds = []string{JobSubscribe, JobUnsubscribe, JobProfile, JobErase, JobBackInStock}

// JobRecord is one stored job as the inspector and the CLI show it.
type JobRecord struct {
	ID   int64  `json:"id"`
	Kind string `json:"kind"`
	// Group is what jobs sharing a request have in common (a subscribe
	// job's list, channels and source), as stored.
	Group      string          `json:"group,omitempty"`
	ProfileKey string          `json:"profile"`
	State      string          `json:"state"`
	Attempts   int             `json:"attempts"`
	LastStatus int             `json:"last_status,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
	Payload    json.RawMessage `json:"payload"`
	Created    time.Time       `json:"created"`
	Updated    time.Time       `json:"updated"`
}

// JobQuery selects jobs. Empty fields match everything.
type JobQuery struct {
	Kind, State string
	// Profile is a profile key ("email:a@b.c") or a bare identifier,
	// matched against every kind of key.
	Profile string
	// Limit caps the jobs (default 100, at most MaxListLimit).
	Limit int
}

// ListJobs returns the stored jobs matching q, newest first.
func ListJobs(ctx context.Context, d *db.DB, q JobQuery) ([]JobRecord, error) {
	switch q.State {
	case "", StatePending, StateDelivered, StateDead:
	default:
		return nil, apperr.FieldErrorf("state", "must be pending, delivered or dead")
	}
	if q.Kind != "" && !validJobKind(q.Kind) {
		return nil, apperr.FieldErrorf("kind", "must be one of %s", strings.Join(JobKinds, ", "))
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, MaxListLimit)
	if err := migrateJobs(ctx, d); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if q.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, q.Kind)
	}
	if q.State != "" {
		where, args = append(where, "state = ?"), append(args, q.State)
	}
	if p := q.Profile; p != "" {
		if strings.Contains(p, ":") && hasKind(p) {
			where, args = append(where, "profile_key = ?"), append(args, p)
		} else {
			where = append(where, "profile_key IN (?"+strings.Repeat(",?", len(profileKinds)-1)+")")
			for _, k := range profileKinds {
				args = append(args, k+p)
			}
		}
	}
	sqlq := `SELECT id, kind, grp, profile_key, state, attempts, last_status, last_error, payload, created_at, updated_at FROM outbox_jobs`
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
	var out []JobRecord
	for rs.Next() {
		var j JobRecord
		var payload string
		var created, updated int64
		if err := rs.Scan(&j.ID, &j.Kind, &j.Group, &j.ProfileKey, &j.State, &j.Attempts, &j.LastStatus, &j.LastError, &payload, &created, &updated); err != nil {
			return nil, err
		}
		if json.Valid([]byte(payload)) {
			j.Payload = json.RawMessage(payload)
		} else {
			j.Payload, _ = json.Marshal(payload)
		}
		j.Created, j.Updated = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		out = append(out, j)
	}
	return out, rs.Err()
}

func validJobKind(k string) bool {
	for _, x := range JobKinds {
		if x == k {
			return true
		}
	}
	return false
}

// JobCountsByKind counts the stored jobs of each kind by state (kinds
// with no job are absent).
func JobCountsByKind(ctx context.Context, d *db.DB) (map[string]SourceCounts, error) {
	if err := migrateJobs(ctx, d); err != nil {
		return nil, err
	}
	rs, err := d.QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM outbox_jobs GROUP BY kind, state`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := map[string]SourceCounts{}
	for rs.Next() {
		var kind, state string
		var n int64
		if err := rs.Scan(&kind, &state, &n); err != nil {
			return nil, err
		}
		c := out[kind]
		switch state {
		case StatePending:
			c.Pending = n
		case StateDelivered:
			c.Delivered = n
		case StateDead:
			c.Dead = n
		}
		out[kind] = c
	}
	return out, rs.Err()
}
