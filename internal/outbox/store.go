package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// States of a stored event.
const (
	StatePending   = "pending"
	StateDelivered = "delivered"
	StateDead      = "dead"
)

// migrate creates the outbox table and its indexes.
func migrate(ctx context.Context, d *db.DB) error {
	return d.Migrate(ctx, "outbox", migrations(d.Dialect))
}

// migrations are the outbox's schema steps for db.Migrate. Times are Unix
// milliseconds so the same SQL works on SQLite and PostgreSQL.
func migrations(dialect db.Dialect) []string {
	id := "id INTEGER PRIMARY KEY AUTOINCREMENT"
	if dialect == db.Postgres {
		id = "id BIGSERIAL PRIMARY KEY"
	}
	return []string{
		`CREATE TABLE outbox_events (
			` + id + `,
			unique_id TEXT NOT NULL,
			profile_key TEXT NOT NULL,
			metric TEXT NOT NULL,
			source TEXT NOT NULL,
			payload TEXT NOT NULL,
			state TEXT NOT NULL DEFAULT 'pending',
			attempts INTEGER NOT NULL DEFAULT 0,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL,
			last_status INTEGER NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX outbox_events_state_id ON outbox_events (state, id)`,
		`CREATE INDEX outbox_events_state_updated ON outbox_events (state, updated_at)`,
		// Partial indexes instead of the two on state: a new (pending)
		// event adds one small entry, its id, to one index, rather than a
		// ('pending', id) and a ('pending', updated_at) entry to two; on
		// SQLite a group commit of ~19 events wrote 12.5 WAL pages, now
		// 9.6. Each query names its state as a literal (not a parameter)
		// so that the planners can use these.
		`CREATE INDEX outbox_events_pending ON outbox_events (id) WHERE state = 'pending'`,
		`CREATE INDEX outbox_events_delivered ON outbox_events (updated_at) WHERE state = 'delivered'`,
		`CREATE INDEX outbox_events_dead ON outbox_events (id) WHERE state = 'dead'`,
		`DROP INDEX outbox_events_state_id`,
		`DROP INDEX outbox_events_state_updated`,
		// Events are stored in Klaviyo's JSON:API form, checked and
		// encoded once by Enqueue: payload holds the event's attributes
		// without the profile, profile the profile's attributes, and
		// profile_at where a single-event request puts the profile (see
		// klaviyo.Encoded). Rows stored before hold the klaviyo.Event as
		// JSON in payload and an empty profile; they are read in that form
		// (see storedEvent).
		`ALTER TABLE outbox_events ADD COLUMN profile TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE outbox_events ADD COLUMN profile_at INTEGER NOT NULL DEFAULT 0`,
	}
}

// storedEvent returns the event of a stored row: the JSON:API parts it
// holds, or, for a row stored as a klaviyo.Event in JSON (an empty
// profile), that event checked and encoded now.
func storedEvent(uniqueID string, payload, profile []byte, profileAt int) (klaviyo.Encoded, error) {
	if len(profile) > 0 {
		return klaviyo.Encoded{UniqueID: uniqueID, Attributes: payload, Profile: profile, ProfileAt: profileAt}, nil
	}
	var e klaviyo.Event
	if err := json.Unmarshal(payload, &e, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)); err != nil {
		return klaviyo.Encoded{}, err
	}
	return klaviyo.Encode(e, time.Now())
}

const insertCols = 9
const insertChunk = 100 // rows per INSERT statement (900 parameters)

// insertQuery returns the multi-row INSERT for n rows (insertStmt
// prepares it once per row count).
func (o *Outbox) insertQuery(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO outbox_events (unique_id, profile_key, metric, source, payload, profile, profile_at, created_at, updated_at) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?)")
	}
	return o.db.Rebind(b.String())
}

// insertStmt returns the INSERT of n rows prepared on the write pool. The
// statement is parsed once per row count: preparing a 64-row INSERT
// anew for every group commit cost SQLite more than executing it. On
// SQLite the write pool is one connection, so Tx.StmtContext finds the
// statement already prepared there; pgx caches its own per connection.
func (o *Outbox) insertStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	o.stmtsMu.Lock()
	defer o.stmtsMu.Unlock()
	if st, ok := o.stmts[n]; ok {
		return st, nil
	}
	st, err := o.db.Write.PrepareContext(ctx, o.insertQuery(n))
	if err != nil {
		return nil, err
	}
	if o.stmts == nil {
		o.stmts = map[int]*sql.Stmt{}
	}
	o.stmts[n] = st
	return st, nil
}

// insert commits rows atomically: up to insertChunk rows (a group commit
// under load is ~20-50) as one INSERT statement in autocommit mode, which
// is its own transaction on both databases, so it costs no BEGIN and
// COMMIT statements and no database/sql Tx (with its goroutine); more as
// a transaction of one INSERT per chunk.
func (o *Outbox) insert(ctx context.Context, rows []row) error {
	if len(rows) <= insertChunk {
		st, err := o.insertStmt(ctx, len(rows))
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, insertArgs(make([]any, 0, len(rows)*insertCols), rows)...)
		return err
	}
	// Statements first: on SQLite the write pool is one connection, which
	// the transaction below holds until it ends.
	stmts := make([]*sql.Stmt, 0, (len(rows)+insertChunk-1)/insertChunk)
	for start := 0; start < len(rows); start += insertChunk {
		st, err := o.insertStmt(ctx, min(insertChunk, len(rows)-start))
		if err != nil {
			return err
		}
		stmts = append(stmts, st)
	}
	tx, err := o.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	args := make([]any, 0, insertChunk*insertCols)
	for i, start := 0, 0; start < len(rows); i, start = i+1, start+insertChunk {
		chunk := rows[start:min(start+insertChunk, len(rows))]
		if _, err := tx.StmtContext(ctx, stmts[i]).ExecContext(ctx, insertArgs(args[:0], chunk)...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// insertArgs appends the INSERT's arguments for rows to args.
func insertArgs(args []any, rows []row) []any {
	for _, r := range rows {
		created := any(r.createdAt)
		args = append(args, r.uniqueID, r.profileKey, r.metric, r.source, string(r.enc.Attributes), string(r.enc.Profile), r.enc.ProfileAt, created, created)
	}
	return args
}

// pendingQuery reads the oldest pending rows (loadPending).
const pendingQuery = `SELECT id, unique_id, profile_key, metric, payload, profile, profile_at FROM outbox_events WHERE state = 'pending' ORDER BY id LIMIT ?`

// loadPending returns up to limit pending rows, oldest first.
func (o *Outbox) loadPending(ctx context.Context, limit int) ([]row, error) {
	rs, err := o.db.QueryContext(ctx, o.db.Rebind(pendingQuery), limit)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		var payload, profile []byte
		var profileAt int
		if err := rs.Scan(&r.id, &r.uniqueID, &r.profileKey, &r.metric, &payload, &profile, &profileAt); err != nil {
			return nil, err
		}
		if r.enc, r.bad = storedEvent(r.uniqueID, payload, profile, profileAt); r.bad != nil {
			r.bad = fmt.Errorf("stored event %d cannot be sent: %v", r.id, r.bad)
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// result is what happened to one row in a delivery round.
type result struct {
	id     int64
	state  string // StateDelivered, StateDead, or StatePending (retry later)
	status int
	detail string
}

// record writes the results of a round in one transaction.
func (o *Outbox) record(ctx context.Context, results []result) error {
	if len(results) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	// Dead letters carry their own detail; retried rows share one
	// statement per outcome and chunk (a failed bulk request gives its
	// 1,000 rows one outcome); delivered rows are updated by id ranges
	// (see deliveredUpdates).
	type retryKey struct {
		status int
		detail string
	}
	var stmts []update
	retried := map[retryKey][]any{}
	var delivered []int64
	for _, r := range results {
		switch r.state {
		case StateDelivered:
			delivered = append(delivered, r.id)
		case StateDead:
			stmts = append(stmts, update{`UPDATE outbox_events SET state = 'dead', attempts = attempts + 1, updated_at = ?, last_status = ?, last_error = ? WHERE state = 'pending' AND id = ?`, []any{now, r.status, r.detail, r.id}})
		default:
			k := retryKey{r.status, r.detail}
			retried[k] = append(retried[k], r.id)
		}
	}
	for k, ids := range retried {
		for start := 0; start < len(ids); start += 500 {
			chunk := ids[start:min(start+500, len(ids))]
			stmts = append(stmts, update{`UPDATE outbox_events SET attempts = attempts + 1, last_status = ?, last_error = ? WHERE state = 'pending' AND id IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`, append([]any{k.status, k.detail}, chunk...)})
		}
	}
	stmts = appendDeliveredUpdates(stmts, now, delivered)
	if len(stmts) == 1 {
		// One statement is atomic by itself. Outside a transaction
		// SQLite also skips the statement journal, a temporary file
		// into which a multi-row UPDATE inside a transaction copies each
		// page it changes, so that it could be undone alone.
		_, err := o.db.Write.ExecContext(ctx, o.db.Rebind(stmts[0].query), stmts[0].args...)
		return err
	}
	tx, err := o.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, u := range stmts {
		if _, err := tx.ExecContext(ctx, o.db.Rebind(u.query), u.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// pruneQuery deletes up to 5,000 rows delivered before its argument.
const pruneQuery = `DELETE FROM outbox_events WHERE id IN (SELECT id FROM outbox_events WHERE state = 'delivered' AND updated_at < ? LIMIT 5000)`

// pruneDeadQuery deletes up to 5,000 rows dead-lettered before its
// argument (dead rows are few: the partial index on them is scanned).
const pruneDeadQuery = `DELETE FROM outbox_events WHERE id IN (SELECT id FROM outbox_events WHERE state = 'dead' AND updated_at < ? LIMIT 5000)`

// update is one statement of record, with ? placeholders.
type update struct {
	query string
	args  []any
}

// appendDeliveredUpdates appends the statements that mark the pending
// rows of ids delivered. A bulk request's rows are mostly consecutive ids
// (the window is read in id order), and a range of ids that holds only ids
// of the set is updated by one statement with three parameters instead of
// a list of the same ids: on SQLite a quarter less CPU per row and 30 in
// place of 790 allocations per 1,000 rows (BenchmarkRecordDelivered). The
// ids outside such runs are listed, 500 to a statement.
func appendDeliveredUpdates(stmts []update, now int64, ids []int64) []update {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	const set = `UPDATE outbox_events SET state = 'delivered', attempts = attempts + 1, updated_at = ?, last_status = 202, last_error = '' WHERE state = 'pending' AND `
	var single []any
	flush := func() {
		if len(single) > 0 {
			stmts = append(stmts, update{set + `id IN (?` + strings.Repeat(",?", len(single)-1) + `)`, append([]any{now}, single...)})
			single = single[:0]
		}
	}
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && ids[j] == ids[j-1]+1 {
			j++
		}
		if j-i >= minRange {
			// Every id in [ids[i], ids[j-1]] is in the set.
			stmts = append(stmts, update{set + `id BETWEEN ? AND ?`, []any{now, ids[i], ids[j-1]}})
		} else {
			for _, id := range ids[i:j] {
				if single = append(single, id); len(single) == 500 {
					flush()
				}
			}
		}
		i = j
	}
	flush()
	return stmts
}

// minRange is the shortest run of consecutive ids that
// appendDeliveredUpdates updates as a range rather than listing.
const minRange = 4

// prune deletes delivered rows older than the retention period and dead
// letters older than theirs, in chunks so that no single transaction holds
// SQLite's write lock for long.
func (o *Outbox) prune(ctx context.Context) (int64, error) {
	now := time.Now()
	var total int64
	for _, p := range []struct {
		query  string
		cutoff int64
	}{
		{pruneQuery, now.Add(-o.opts.Retention).UnixMilli()},
		{pruneDeadQuery, now.Add(-o.opts.DeadRetention).UnixMilli()},
	} {
		for {
			res, err := o.db.Write.ExecContext(ctx, o.db.Rebind(p.query), p.cutoff)
			if err != nil {
				return total, err
			}
			n, _ := res.RowsAffected()
			total += n
			if n < 5000 {
				break
			}
		}
	}
	return total, nil
}

// Status is a snapshot of the queue for `snippetd outbox status`, /readyz
// and metrics.
type Status struct {
	Pending   int64 `json:"pending"`
	Delivered int64 `json:"delivered"`
	Dead      int64 `json:"dead"`
	// OldestPendingAge is how long the oldest pending event has waited
	// (zero when nothing is pending).
	OldestPendingAge time.Duration `json:"oldest_pending_age"`
	// Leader reports whether this process's delivery loop holds the
	// delivery role (always true on SQLite while Run runs).
	Leader bool `json:"leader"`
	// Running reports whether Run is active in this process.
	Running bool `json:"running"`
	// Paused says why this process's delivery is paused (a refused
	// private key), "" when it is not.
	Paused string `json:"paused,omitempty"`
	// LastError is the loop's most recent delivery or storage problem.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Since this process started:
	DeliveredTotal int64 `json:"delivered_total"`
	DeadTotal      int64 `json:"dead_total"`
	RetriesTotal   int64 `json:"retries_total"`
	RequestsTotal  int64 `json:"requests_total"`
}

// Status counts events by state and reports the loop's health.
func (o *Outbox) Status(ctx context.Context) (Status, error) {
	s := Status{
		Leader:         o.leader.Load(),
		Running:        o.running.Load(),
		DeliveredTotal: o.delivered.Load(),
		DeadTotal:      o.dead.Load(),
		RetriesTotal:   o.retries.Load(),
		RequestsTotal:  o.requests.Load(),
		Paused:         o.PausedReason(),
	}
	if e := o.lastErr.Load(); e != nil {
		s.LastError, s.LastErrorAt = e.msg, e.at
	}
	c, err := counts(ctx, o.db)
	s.Pending, s.Delivered, s.Dead, s.OldestPendingAge = c.Pending, c.Delivered, c.Dead, c.OldestPendingAge
	return s, err
}

// Counts reads the counts by state and the oldest pending age straight
// from the database: the CLI uses it without opening an Outbox.
func Counts(ctx context.Context, d *db.DB) (Status, error) {
	if err := migrate(ctx, d); err != nil {
		return Status{}, err
	}
	return counts(ctx, d)
}

// stateCounts runs query, which must select (state, COUNT(*)) grouped by
// state, and sorts the counts into their fields.
func stateCounts(ctx context.Context, d *db.DB, query string, args ...any) (SourceCounts, error) {
	var c SourceCounts
	rs, err := d.QueryContext(ctx, query, args...)
	if err != nil {
		return c, err
	}
	defer rs.Close()
	for rs.Next() {
		var state string
		var n int64
		if err := rs.Scan(&state, &n); err != nil {
			return c, err
		}
		switch state {
		case StatePending:
			c.Pending = n
		case StateDelivered:
			c.Delivered = n
		case StateDead:
			c.Dead = n
		}
	}
	return c, rs.Err()
}

// countsQuery counts the events in each state, each over its partial
// index (a GROUP BY state would scan the table: no index has state as a
// column), and reads the oldest pending event's time.
const countsQuery = `SELECT
	(SELECT COUNT(*) FROM outbox_events WHERE state = 'pending'),
	(SELECT COUNT(*) FROM outbox_events WHERE state = 'delivered'),
	(SELECT COUNT(*) FROM outbox_events WHERE state = 'dead'),
	(SELECT MIN(created_at) FROM outbox_events WHERE state = 'pending')`

func counts(ctx context.Context, d *db.DB) (Status, error) {
	var s Status
	var oldest sql.NullInt64
	err := d.QueryRowContext(ctx, countsQuery).Scan(&s.Pending, &s.Delivered, &s.Dead, &oldest)
	if err != nil {
		return s, err
	}
	if oldest.Valid {
		s.OldestPendingAge = max(0, time.Since(time.UnixMilli(oldest.Int64)))
	}
	return s, nil
}

// DeadLetter is an event Klaviyo rejected permanently, with its response.
type DeadLetter struct {
	ID       int64     `json:"id"`
	UniqueID string    `json:"unique_id"`
	Metric   string    `json:"metric"`
	Profile  string    `json:"profile"`
	Source   string    `json:"source"`
	Attempts int       `json:"attempts"`
	Created  time.Time `json:"created"`
	Failed   time.Time `json:"failed"`
	Status   int       `json:"status"`
	// Response is Klaviyo's error body (or the reason the event could not
	// be sent).
	Response string `json:"response"`
}

// deadLettersQuery lists the dead letters, oldest first.
const deadLettersQuery = `SELECT id, unique_id, metric, profile_key, source, attempts, created_at, updated_at, last_status, last_error FROM outbox_events WHERE state = 'dead' ORDER BY id`

// DeadLetters lists dead letters, oldest first, at most limit (0: all).
func DeadLetters(ctx context.Context, d *db.DB, limit int) ([]DeadLetter, error) {
	if err := migrate(ctx, d); err != nil {
		return nil, err
	}
	q := deadLettersQuery
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rs, err := d.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return scanDeadLetters(rs)
}

// Replay puts dead letters back in the queue: those with the given ids, or
// every one when all is set. They keep their id and unique_id, so they are
// delivered in their original order relative to their profile's other
// pending events, and Klaviyo still deduplicates them. It returns how many
// rows were requeued.
func Replay(ctx context.Context, d *db.DB, ids []int64, all bool) (int64, error) {
	if err := migrate(ctx, d); err != nil {
		return 0, err
	}
	now := time.Now().UnixMilli()
	if all {
		res, err := d.Write.ExecContext(ctx, d.Rebind(`UPDATE outbox_events SET state = 'pending', attempts = 0, updated_at = ? WHERE state = 'dead'`), now)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{now}
	for _, id := range ids {
		args = append(args, id)
	}
	res, err := d.Write.ExecContext(ctx, d.Rebind(`UPDATE outbox_events SET state = 'pending', attempts = 0, updated_at = ? WHERE state = 'dead' AND id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// scanDeadLetters reads the rows of a dead-letter query (deadLettersQuery's
// columns) and closes them.
func scanDeadLetters(rs *sql.Rows) ([]DeadLetter, error) {
	defer rs.Close()
	var out []DeadLetter
	for rs.Next() {
		var l DeadLetter
		var created, failed int64
		if err := rs.Scan(&l.ID, &l.UniqueID, &l.Metric, &l.Profile, &l.Source, &l.Attempts, &created, &failed, &l.Status, &l.Response); err != nil {
			return nil, err
		}
		l.Created, l.Failed = time.UnixMilli(created).UTC(), time.UnixMilli(failed).UTC()
		out = append(out, l)
	}
	return out, rs.Err()
}
