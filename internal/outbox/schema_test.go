package outbox

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
)

// TestMigrateToPartialIndexes: a database made by the first schema (two
// indexes on state) with events in every state moves to the partial
// indexes on the next Open, and what the queue reports stays the same.
func TestMigrateToPartialIndexes(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := d.Migrate(ctx, "outbox", migrations(d.Dialect)[:3]); err != nil {
				t.Fatal(err)
			}
			if got, want := indexes(t, d), []string{"outbox_events_state_id", "outbox_events_state_updated"}; !cmp.Equal(want, got) {
				t.Fatalf("first schema's indexes %v, want %v", got, want)
			}
			now := time.Now().UnixMilli()
			for i, state := range []string{StatePending, StateDelivered, StateDead, StatePending, StateDelivered} {
				if _, err := d.ExecContext(ctx, d.Rebind(`INSERT INTO outbox_events (unique_id, profile_key, metric, source, payload, created_at, updated_at, state) VALUES (?, 'email:a@example.com', 'M', 'orders', '{}', ?, ?, ?)`), NewUniqueID(), now-int64(5-i), now, state); err != nil {
					t.Fatal(err)
				}
			}

			o, err := Open(ctx, d, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close(context.Background())
			if got, want := indexes(t, d), []string{"outbox_events_dead", "outbox_events_delivered", "outbox_events_pending"}; !cmp.Equal(want, got) {
				t.Errorf("indexes after Open %v, want %v", got, want)
			}
			s, err := o.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.Pending != 2 || s.Delivered != 2 || s.Dead != 1 || s.OldestPendingAge <= 0 {
				t.Errorf("status %+v, want 2 pending (oldest age > 0), 2 delivered, 1 dead", s)
			}
			pending, err := o.loadPending(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, r := range pending {
				ids = append(ids, r.id)
			}
			if !cmp.Equal([]int64{1, 4}, ids) {
				t.Errorf("pending ids %v, want [1 4]", ids)
			}
			dead, err := DeadLetters(ctx, d, 0)
			if err != nil || len(dead) != 1 || dead[0].ID != 3 {
				t.Errorf("dead letters %+v, %v; want id 3", dead, err)
			}
		})
	}
}

// indexes lists the outbox table's secondary indexes by name.
func indexes(t *testing.T, d *db.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox_events'`
	if d.Dialect == db.Postgres {
		q = `SELECT indexname FROM pg_indexes WHERE tablename = 'outbox_events' AND indexname <> 'outbox_events_pkey'`
	}
	rs, err := d.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var n string
		if err := rs.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// TestQueriesUseTheStateIndexes: on SQLite (whose planner does not depend
// on table statistics) every query that selects by state reads that
// state's partial index rather than scanning the table, whose rows are
// mostly delivered events with their payloads.
func TestQueriesUseTheStateIndexes(t *testing.T) {
	d := dbtest.SQLite(t)
	ctx := context.Background()
	if err := migrate(ctx, d); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		want        []string // an index each step of the plan must use
	}{
		{"loadPending", pendingQuery, []string{"outbox_events_pending"}},
		{"prune", pruneQuery, []string{"INTEGER PRIMARY KEY", "outbox_events_delivered"}},
		{"counts", countsQuery, []string{"outbox_events_pending", "outbox_events_delivered", "outbox_events_dead", "outbox_events_pending"}},
		{"DeadLetters", deadLettersQuery, []string{"outbox_events_dead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := make([]any, strings.Count(tt.query, "?"))
			for i := range args {
				args[i] = 1
			}
			rs, err := d.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tt.query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			var got []string
			for rs.Next() {
				var id, parent, notused int
				var detail string
				if err := rs.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(detail, "SCAN outbox_events") || strings.HasPrefix(detail, "SEARCH outbox_events") {
					got = append(got, detail)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("plan %q, want %d table reads using %v", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("plan step %q, want it to use %s", got[i], w)
				}
			}
		})
	}
}
