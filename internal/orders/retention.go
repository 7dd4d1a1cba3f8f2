package orders

import (
	"context"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/db"
)

// retentionMigrations index the times Prune selects by. They are their
// own component, so they never collide with the orders schema's steps.
var retentionMigrations = []string{
	`CREATE INDEX orders_created ON orders (created_at)`,
	`CREATE INDEX order_action_log_created ON order_action_log (created_at)`,
	`CREATE INDEX order_backfill_sent ON order_backfill (sent_at)`,
}

// migrateRetention adds the indexes Prune needs.
func migrateRetention(ctx context.Context, d *db.DB) error {
	return d.Migrate(ctx, "orders_retention", retentionMigrations)
}

// Prune deletes up to limit orders whose last event (the order, or its
// latest action) is older than before, with their actions, in one
// transaction; then, if the limit is not reached, backfill records sent
// before it. It returns how many rows it deleted. After that, posting the
// order again is accepted as new: its events carry the same unique ids,
// so Klaviyo still keeps the first.
func (s *Store) Prune(ctx context.Context, before time.Time, limit int) (int64, error) {
	cut := before.UnixMilli()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, s.db.Rebind(`SELECT id FROM orders o WHERE created_at < ?
		AND NOT EXISTS (SELECT 1 FROM order_action_log a WHERE a.order_id = o.id AND a.created_at >= ?)
		ORDER BY created_at LIMIT ?`), cut, cut, limit)
	if err != nil {
		return 0, err
	}
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var total int64
	if len(ids) > 0 {
		in := `(?` + strings.Repeat(",?", len(ids)-1) + `)`
		for _, q := range []string{`DELETE FROM order_action_log WHERE order_id IN ` + in, `DELETE FROM orders WHERE id IN ` + in} {
			res, err := tx.ExecContext(ctx, s.db.Rebind(q), ids...)
			if err != nil {
				return 0, err
			}
			n, _ := res.RowsAffected()
			total += n
		}
	}
	if rest := int64(limit) - int64(len(ids)); rest > 0 {
		res, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM order_backfill WHERE order_id IN
			(SELECT order_id FROM order_backfill WHERE sent_at < ? LIMIT ?)`), cut, rest)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, tx.Commit()
}
