package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// TestPruneDeadLetters: dead letters are kept for DeadRetention, then
// pruned like delivered rows.
func TestPruneDeadLetters(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			opts.DeadRetention = time.Hour
			o := openOutbox(t, d, opts)
			ctx := context.Background()
			if err := o.Enqueue(ctx, []klaviyo.Event{ev("a", 1), ev("a", 2)}, "test"); err != nil {
				t.Fatal(err)
			}
			rows, _ := o.loadPending(ctx, 10)
			if err := o.record(ctx, []result{{id: rows[0].id, state: StateDead, detail: "x"}, {id: rows[1].id, state: StateDead, detail: "y"}}); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-2 * time.Hour).UnixMilli()
			if _, err := d.ExecContext(ctx, d.Rebind(`UPDATE outbox_events SET updated_at = ? WHERE id = ?`), old, rows[0].id); err != nil {
				t.Fatal(err)
			}
			if n, err := o.prune(ctx); err != nil || n != 1 {
				t.Fatalf("prune = %d, %v; want 1 row", n, err)
			}
			if st := status(t, o); st.Dead != 1 {
				t.Errorf("after prune: %+v, want the recent dead letter only", st)
			}
		})
	}
}
