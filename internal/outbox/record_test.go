package outbox

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// TestRecordTouchesOnlyItsRows: record updates exactly the rows of its
// results, whether their ids form runs (updated as ranges), stand alone
// (listed), or border rows of other states and rows it was not given.
func TestRecordTouchesOnlyItsRows(t *testing.T) {
	type rowState struct {
		State    string
		Attempts int
		Status   int
		Error    string
	}
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			ctx := context.Background()
			events := make([]klaviyo.Event, 30)
			for i := range events {
				events[i] = ev("a", i)
			}
			if err := o.Enqueue(ctx, events, "test"); err != nil {
				t.Fatal(err)
			}
			rows, err := o.loadPending(ctx, 30)
			if err != nil || len(rows) != 30 {
				t.Fatalf("loadPending: %d rows, %v", len(rows), err)
			}
			id := func(i int) int64 { return rows[i].id }
			// Row 12 was delivered by an earlier round: record must not
			// count it again although it lies inside a run.
			if _, err := d.Exec(d.Rebind(`UPDATE outbox_events SET state = 'delivered', attempts = 1, last_status = 202 WHERE id = ?`), id(12)); err != nil {
				t.Fatal(err)
			}
			var results []result
			want := map[int64]rowState{}
			for i := range rows {
				want[id(i)] = rowState{State: StatePending}
			}
			want[id(12)] = rowState{State: StateDelivered, Attempts: 1, Status: 202}
			delivered := []int{9, 0, 1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 16, 17, 19, 21, 22, 23, 25, 26, 27, 28, 29, 29}
			for _, i := range delivered {
				results = append(results, result{id: id(i), state: StateDelivered})
				if i != 12 {
					want[id(i)] = rowState{State: StateDelivered, Attempts: 1, Status: 202}
				}
			}
			results = append(results, result{id: id(6), state: StateDead, status: 400, detail: "bad"})
			want[id(6)] = rowState{State: StateDead, Attempts: 1, Status: 400, Error: "bad"}
			results = append(results, result{id: id(24), state: StatePending, status: 503, detail: "later"})
			want[id(24)] = rowState{State: StatePending, Attempts: 1, Status: 503, Error: "later"}
			if err := o.record(ctx, results); err != nil {
				t.Fatal(err)
			}
			got := map[int64]rowState{}
			rs, err := d.Query(`SELECT id, state, attempts, last_status, last_error FROM outbox_events`)
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			for rs.Next() {
				var id int64
				var s rowState
				if err := rs.Scan(&id, &s.State, &s.Attempts, &s.Status, &s.Error); err != nil {
					t.Fatal(err)
				}
				got[id] = s
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rows after record (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeliveredUpdates: runs of at least minRange consecutive ids become
// ranges, everything else one list, and every id is covered once.
func TestDeliveredUpdates(t *testing.T) {
	ids := []int64{10, 3, 4, 5, 6, 1, 8, 9, 11, 12, 20, 21, 22, 30, 30}
	got := appendDeliveredUpdates(nil, 7, ids)
	var desc []string
	for _, u := range got {
		desc = append(desc, fmt.Sprintf("%s %v", u.query[len(`UPDATE outbox_events SET state = 'delivered', attempts = attempts + 1, updated_at = ?, last_status = 202, last_error = '' WHERE state = 'pending' AND `):], u.args))
	}
	want := []string{
		"id BETWEEN ? AND ? [7 3 6]",
		"id BETWEEN ? AND ? [7 8 12]",
		"id IN (?,?,?,?,?) [7 1 20 21 22 30]",
	}
	if diff := cmp.Diff(want, desc); diff != "" {
		t.Errorf("statements (-want +got):\n%s", diff)
	}
}
