package db

import (
	"context"
	"path/filepath"
	"testing"
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
