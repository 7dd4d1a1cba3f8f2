package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// failInserts makes the database refuse every insert of an event whose
// metric is metric (every event when metric is ""), as a full disk, a
// broken connection or a constraint would: a storage failure inside the
// group commit's statement.
func failInserts(t *testing.T, d *db.DB, metric string) {
	t.Helper()
	cond := "TRUE"
	if metric != "" {
		cond = "NEW.metric = '" + metric + "'"
	}
	var stmts []string
	if d.Dialect == db.Postgres {
		stmts = []string{
			`CREATE OR REPLACE FUNCTION outbox_fail() RETURNS trigger AS $$ BEGIN IF ` + cond + ` THEN RAISE EXCEPTION 'injected storage failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
			`DROP TRIGGER IF EXISTS outbox_fail ON outbox_events`,
			`CREATE TRIGGER outbox_fail BEFORE INSERT ON outbox_events FOR EACH ROW EXECUTE FUNCTION outbox_fail()`,
		}
	} else {
		stmts = []string{
			`DROP TRIGGER IF EXISTS outbox_fail`,
			`CREATE TRIGGER outbox_fail BEFORE INSERT ON outbox_events WHEN ` + cond + ` BEGIN SELECT RAISE(ABORT, 'injected storage failure'); END`,
		}
	}
	for _, s := range stmts {
		if _, err := d.Write.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

// storedIDs returns the unique ids in the outbox table.
func storedIDs(t *testing.T, d *db.DB) map[string]bool {
	t.Helper()
	rs, err := d.Query(`SELECT unique_id FROM outbox_events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	ids := map[string]bool{}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	return ids
}

// enqueueGrouped enqueues each of batches from its own goroutine while the
// database's write lock is held elsewhere and o's one committer waits for
// it with an earlier request, so that the requests queue up and are
// committed as one group once the lock is released; it returns each
// Enqueue's error.
func enqueueGrouped(t *testing.T, o *Outbox, d *db.DB, batches [][]klaviyo.Event) []error {
	t.Helper()
	if o.opts.Committers != 1 {
		t.Fatalf("%d committers, want 1", o.opts.Committers)
	}
	ctx := context.Background()
	tx, err := d.DB.BeginTx(ctx, nil) // SQLite: BEGIN IMMEDIATE, the write lock
	if err != nil {
		t.Fatal(err)
	}
	if d.Dialect == db.Postgres {
		if _, err := tx.Exec(`LOCK TABLE outbox_events IN EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
	}
	blocked := make(chan error, 1)
	go func() { blocked <- o.Enqueue(ctx, []klaviyo.Event{ev("blocker", 1)}, "test") }()
	for len(o.reqs) > 0 || len(blocked) > 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the committer is inside its insert
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() { errs[i] = o.Enqueue(ctx, b, "test") })
	}
	// The committer waits for the lock with the blocker; the others wait
	// in the queue, to be gathered into one transaction.
	for deadline := time.Now().Add(3 * time.Second); len(o.reqs) < len(batches); {
		if time.Now().After(deadline) {
			tx.Rollback()
			t.Fatalf("only %d of %d requests queued behind the lock: no group formed", len(o.reqs), len(batches))
		}
		time.Sleep(time.Millisecond)
	}
	tx.Rollback()
	wg.Wait()
	<-blocked
	return errs
}

// TestFailedCommitIsNeverAcknowledged: when the database refuses a group
// commit, no Enqueue of that group reports success for events that are not
// stored. Requests from concurrent producers are committed as one group;
// some hold an event the database refuses. Every request that was
// acknowledged is stored in full, every request that was refused stored
// nothing (and says EUNAVAILABLE), and the group's other requests are not
// failed with it. Then the database refuses everything: every Enqueue of
// the group fails and nothing is stored.
func TestFailedCommitIsNeverAcknowledged(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			opts.Committers = 1
			o := openOutbox(t, d, opts)
			failInserts(t, d, "Poison")
			const producers = 48
			batches := make([][]klaviyo.Event, producers)
			poisoned := make([]bool, producers)
			for p := range batches {
				batches[p] = []klaviyo.Event{ev(fmt.Sprint(p), 1), ev(fmt.Sprint(p), 2)}
				if poisoned[p] = p%5 == 0; poisoned[p] {
					batches[p][1].Metric = "Poison"
				}
			}
			errs := enqueueGrouped(t, o, d, batches)
			stored := storedIDs(t, d)
			var acked, refused int
			for p, err := range errs {
				for _, e := range batches[p] {
					if err == nil && !stored[e.UniqueID] {
						t.Errorf("Enqueue acknowledged event %s, which is not stored", e.UniqueID)
					}
					if err != nil && stored[e.UniqueID] {
						t.Errorf("Enqueue refused event %s (%v), which is stored", e.UniqueID, err)
					}
				}
				switch {
				case poisoned[p] && err == nil:
					t.Errorf("request %d, which the database refused, was acknowledged", p)
				case poisoned[p] && apperr.ErrorCode(err) != apperr.EUNAVAILABLE:
					t.Errorf("request %d: %v, want EUNAVAILABLE", p, err)
				case !poisoned[p] && err != nil:
					t.Errorf("request %d failed with its group: %v", p, err)
				case err == nil:
					acked++
				default:
					refused++
				}
			}
			if acked == 0 || refused == 0 {
				t.Fatalf("%d acknowledged, %d refused: the test proves nothing", acked, refused)
			}

			// A request committed alone, refused.
			lone := []klaviyo.Event{ev("lone", 1)}
			lone[0].Metric = "Poison"
			if err := o.Enqueue(context.Background(), lone, "test"); apperr.ErrorCode(err) != apperr.EUNAVAILABLE || storedIDs(t, d)[lone[0].UniqueID] {
				t.Errorf("a lone refused request: %v, want EUNAVAILABLE and nothing stored", err)
			}

			failInserts(t, d, "")
			for p := range batches {
				batches[p] = []klaviyo.Event{ev(fmt.Sprint("late", p), 1)}
			}
			before := len(storedIDs(t, d))
			for p, err := range enqueueGrouped(t, o, d, batches) {
				if apperr.ErrorCode(err) != apperr.EUNAVAILABLE {
					t.Errorf("request %d while every insert fails: %v, want EUNAVAILABLE", p, err)
				}
			}
			if n := len(storedIDs(t, d)); n != before {
				t.Errorf("%d events stored while every insert failed", n-before)
			}
		})
	}
}

// TestOlderRowsStillDeliver: rows stored as a klaviyo.Event in JSON (the
// earlier format, with an empty profile column) are delivered as they were
// queued, beside rows of the current format, and listed with the same
// payload.
func TestOlderRowsStillDeliver(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			old := ev("old", 1)
			old.UniqueID = "legacy-1"
			old.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			payload, err := json.Marshal(old)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UnixMilli()
			if _, err := d.Write.Exec(d.Rebind(`INSERT INTO outbox_events (unique_id, profile_key, metric, source, payload, created_at, updated_at) VALUES (?,?,?,?,?,?,?)`),
				old.UniqueID, old.Profile.Key(), old.Metric, "test", string(payload), now, now); err != nil {
				t.Fatal(err)
			}
			broken := ev("old", 2)
			if _, err := d.Write.Exec(d.Rebind(`INSERT INTO outbox_events (unique_id, profile_key, metric, source, payload, created_at, updated_at) VALUES (?,?,?,?,?,?,?)`),
				"legacy-2", broken.Profile.Key(), broken.Metric, "test", `{"metric":`, now, now); err != nil {
				t.Fatal(err)
			}
			recs, err := List(context.Background(), d, Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 || string(recs[1].Payload) != string(payload) {
				t.Fatalf("older row listed as %v, want its payload %s", recs, payload)
			}
			current := []klaviyo.Event{ev("new", 1)}
			if err := o.Enqueue(context.Background(), current, "test"); err != nil {
				t.Fatal(err)
			}
			s := &fakeSender{}
			run(t, o, s)
			waitFor(t, "delivery", func() bool { st := status(t, o); return st.Pending == 0 })
			// Singles of distinct profiles go out concurrently: compare
			// by unique id.
			got := map[string]string{}
			for _, e := range s.delivered() {
				b, _ := json.Marshal(e)
				got[e.UniqueID] = string(b)
			}
			want := map[string]string{}
			for _, e := range []klaviyo.Event{old, current[0]} {
				b, _ := json.Marshal(e)
				want[e.UniqueID] = string(b)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if st := status(t, o); st.Dead != 1 {
				t.Errorf("status %+v: the undecodable older row should be a dead letter", st)
			}
		})
	}
}
