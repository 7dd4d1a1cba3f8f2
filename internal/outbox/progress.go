package outbox

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/snippetd/snippetd/internal/db"
)

// SourceCounts is how far the outbox has got with one producer's events:
// what a batch producer (the backfill) watches to know when its events are
// all delivered or dead-lettered.
type SourceCounts struct {
	Pending, Delivered, Dead int64
}

// Done is the number of events that reached a final state.
func (c SourceCounts) Done() int64 { return c.Delivered + c.Dead }

// Mark returns the id after which source's unfinished events start: the
// highest stored id, or just before the oldest pending event of source if
// that is older. A producer takes the mark before enqueueing and follows
// everything of its source after it (its own events plus any an earlier
// run of it left pending) with CountSince and DeadLettersSince.
func Mark(ctx context.Context, d *db.DB, source string) (int64, error) {
	if err := migrate(ctx, d); err != nil {
		return 0, err
	}
	var last, pending sql.NullInt64
	if err := d.QueryRowContext(ctx, `SELECT MAX(id) FROM outbox_events`).Scan(&last); err != nil {
		return 0, fmt.Errorf("outbox mark: %w", err)
	}
	if err := d.QueryRowContext(ctx, d.Rebind(`SELECT MIN(id) FROM outbox_events WHERE state = 'pending' AND source = ?`), source).Scan(&pending); err != nil {
		return 0, fmt.Errorf("outbox mark: %w", err)
	}
	if pending.Valid && pending.Int64-1 < last.Int64 {
		return pending.Int64 - 1, nil
	}
	return last.Int64, nil
}

// CountSince counts source's events stored after id by state.
func CountSince(ctx context.Context, d *db.DB, source string, after int64) (SourceCounts, error) {
	return stateCounts(ctx, d, d.Rebind(`SELECT state, COUNT(*) FROM outbox_events WHERE source = ? AND id > ? GROUP BY state`), source, after)
}

// DeadLettersSince lists source's dead letters stored after id, oldest
// first, at most limit (0: all), with Klaviyo's response.
func DeadLettersSince(ctx context.Context, d *db.DB, source string, after int64, limit int) ([]DeadLetter, error) {
	q := `SELECT id, unique_id, metric, profile_key, source, attempts, created_at, updated_at, last_status, last_error FROM outbox_events WHERE state = 'dead' AND source = ? AND id > ? ORDER BY id`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rs, err := d.QueryContext(ctx, d.Rebind(q), source, after)
	if err != nil {
		return nil, err
	}
	return scanDeadLetters(rs)
}
