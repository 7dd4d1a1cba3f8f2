package outbox

import (
	"context"
	"testing"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// TestRecordLeavesSettledRowsAlone: a result for a row that is no longer
// pending (delivered or dead-lettered meanwhile, by a round whose
// deliverer lost its lease before this one wrote) changes nothing: a
// delivered event is never turned into a dead letter or counted again.
func TestRecordLeavesSettledRowsAlone(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			ctx := context.Background()
			if err := o.Enqueue(ctx, []klaviyo.Event{ev("a", 1), ev("a", 2)}, "test"); err != nil {
				t.Fatal(err)
			}
			rows, err := o.loadPending(ctx, 2)
			if err != nil || len(rows) != 2 {
				t.Fatalf("loadPending: %d rows, %v", len(rows), err)
			}
			delivered, dead := rows[0].id, rows[1].id
			if err := o.record(ctx, []result{{id: delivered, state: StateDelivered}, {id: dead, state: StateDead, status: 400, detail: "bad"}}); err != nil {
				t.Fatal(err)
			}
			// A late round reports the opposite for each, alone and together.
			for _, late := range [][]result{
				{{id: delivered, state: StateDead, status: 400, detail: "late"}},
				{{id: dead, state: StateDelivered}},
				{{id: delivered, state: StateDead, status: 422, detail: "late"}, {id: dead, state: StatePending, status: 503, detail: "late"}},
			} {
				if err := o.record(ctx, late); err != nil {
					t.Fatal(err)
				}
			}
			for id, want := range map[int64]string{delivered: StateDelivered, dead: StateDead} {
				var state, lastErr string
				var attempts int
				if err := d.QueryRow(d.Rebind(`SELECT state, attempts, last_error FROM outbox_events WHERE id = ?`), id).Scan(&state, &attempts, &lastErr); err != nil {
					t.Fatal(err)
				}
				if state != want || attempts != 1 || lastErr == "late" {
					t.Errorf("row %d: %s, %d attempts, error %q; want %s as first recorded", id, state, attempts, lastErr, want)
				}
			}
		})
	}
}
