package db

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testDBs returns the databases every store test runs against: a fresh
// SQLite file, and PostgreSQL's "test" database when it is reachable.
func testDBs(t *testing.T) map[string]*DB {
	t.Helper()
	ctx := context.Background()
	out := map[string]*DB{}
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	out["sqlite"] = s
	p, err := Open(ctx, "", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		t.Logf("PostgreSQL at 127.0.0.1:5432 unreachable, testing SQLite only (start it with pg_ctlcluster): %v", err)
	} else {
		t.Cleanup(func() { p.Close() })
		out["postgres"] = p
	}
	return out
}

func TestMigrateRunsEachStepOnce(t *testing.T) {
	for name, d := range testDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			comp := "dbtest_" + t.Name()[len(t.Name())-6:]
			d.ExecContext(ctx, `DROP TABLE IF EXISTS dbtest_things`)
			d.ExecContext(ctx, d.Rebind(`DELETE FROM schema_migrations WHERE component = ?`), comp)
			steps := []string{
				`CREATE TABLE dbtest_things (id INTEGER PRIMARY KEY)`,
				`INSERT INTO dbtest_things (id) VALUES (1)`,
			}
			for i := 0; i < 2; i++ {
				if err := d.Migrate(ctx, comp, steps); err != nil {
					t.Fatalf("run %d: %v", i, err)
				}
			}
			var n int
			if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM dbtest_things`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("rows = %d, want 1 (a step ran twice)", n)
			}
			var got int
			if err := d.QueryRowContext(ctx, d.Rebind(`SELECT id FROM dbtest_things WHERE id = ?`), 1).Scan(&got); err != nil || got != 1 {
				t.Errorf("rebound query: got %d, %v", got, err)
			}
		})
	}
}

// TestCheckpointerKeepsCommitsFree: commits never checkpoint (the write
// connection's wal_autocheckpoint is 0), yet committed pages reach the
// database file and the WAL starts over, because the background
// checkpointer copies them.
func TestCheckpointerKeepsCommitsFree(t *testing.T) {
	ctx := context.Background()
	d, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "ckpt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var auto int
	if err := d.Write.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("write connection wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	if _, err := d.Write.ExecContext(ctx, `CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	before := st.Size()
	blob := strings.Repeat("x", 1000)
	for range 40 { // about 1,000 pages through the WAL, in 40 commits
		tx, err := d.Write.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?)`, blob); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpointer runs every checkpointInterval; poll until it has
	// copied every frame (a bound on waiting, not a timing assertion).
	_, _, runs0 := d.WALState()
	deadline := time.Now().Add(20 * time.Second)
	for {
		frames, done, runs := d.WALState()
		if runs > runs0+1 && frames > 0 && done == frames { // a run that began after the last commit
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpointer: %d of %d WAL frames copied", done, frames)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, err := os.Stat(d.Path); err != nil || st.Size() < before+4_000_000 {
		t.Fatalf("database file %v bytes (was %d), %v: the rows did not reach it", st.Size(), before, err)
	}
	// Fully checkpointed, the next commit starts the WAL over: it then
	// holds only that commit's frames.
	if _, err := d.Write.ExecContext(ctx, `INSERT INTO t VALUES ('last')`); err != nil {
		t.Fatal(err)
	}
	frames, _, err := d.checkpoint(ctx, d.DB)
	if err != nil {
		t.Fatal(err)
	}
	if frames > 10 {
		t.Errorf("WAL holds %d frames after a restart, want a handful", frames)
	}
}

// TestCheckpointerBoundsWALUnderSteadyWrites: with commits arriving all
// the time, passive checkpoints alone never copy the newest frames and the
// WAL would never start over; the checkpointer's writer-turn checkpoint
// keeps it bounded.
func TestCheckpointerBoundsWALUnderSteadyWrites(t *testing.T) {
	ctx := context.Background()
	d, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "steady.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Write.ExecContext(ctx, `CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	blob := strings.Repeat("y", 4000) // about a page per row
	const rows = 25_000               // about 100 MB through the WAL
	var maxWAL int64
	for i := range rows / 10 {
		tx, err := d.Write.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?)`, blob); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if st, err := os.Stat(d.Path + "-wal"); err == nil {
				maxWAL = max(maxWAL, st.Size())
			}
		}
	}
	_, _, runs := d.WALState()
	t.Logf("largest WAL seen: %d bytes over %d checkpointer runs", maxWAL, runs)
	if runs == 0 {
		t.Skip("the checkpointer never ran while writing (machine too fast for the test)")
	}
	if maxWAL > 60<<20 {
		t.Errorf("WAL grew to %d bytes while 100 MB were written; the checkpointer did not bound it", maxWAL)
	}
}
