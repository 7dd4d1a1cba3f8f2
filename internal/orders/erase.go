package orders

import (
	"context"
	"strings"
)

// Erase deletes the stored orders whose body contains one of needles (a
// person's email or phone number), with their actions and backfill
// records, for a right-to-be-forgotten request. It returns how many
// orders it deleted. It scans the orders (erasure is rare).
func (st *Store) Erase(ctx context.Context, needles []string) (int64, error) {
	var where []string
	var args []any
	for _, n := range needles {
		if n == "" {
			continue
		}
		where = append(where, `body LIKE ? ESCAPE '\'`)
		args = append(args, "%"+strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(n)+"%")
	}
	if len(where) == 0 {
		return 0, nil
	}
	tx, err := st.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rs, err := tx.QueryContext(ctx, st.db.Rebind(`SELECT id FROM orders WHERE `+strings.Join(where, " OR ")), args...)
	if err != nil {
		return 0, err
	}
	var ids []any
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rs.Close()
	if err := rs.Err(); err != nil || len(ids) == 0 {
		return 0, err
	}
	in := `(?` + strings.Repeat(",?", len(ids)-1) + `)`
	for _, q := range []string{
		`DELETE FROM order_action_log WHERE order_id IN ` + in,
		`DELETE FROM order_backfill WHERE order_id IN ` + in,
		`DELETE FROM orders WHERE id IN ` + in,
	} {
		if _, err := tx.ExecContext(ctx, st.db.Rebind(q), ids...); err != nil {
			return 0, err
		}
	}
	return int64(len(ids)), tx.Commit()
}
