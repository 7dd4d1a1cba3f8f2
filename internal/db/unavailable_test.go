package db_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
)

// TestUnavailableSQLiteFull: an insert into a file that cannot grow is a
// storage failure (EUNAVAILABLE), a constraint violation is not.
func TestUnavailableSQLiteFull(t *testing.T) {
	ctx := context.Background()
	d := dbtest.SQLite(t)
	if _, err := d.Write.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write.ExecContext(ctx, `INSERT INTO t VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	_, dup := d.Write.ExecContext(ctx, `INSERT INTO t VALUES (1, 'a')`)
	if dup == nil || db.IsUnavailable(dup) || db.Unavailable(dup) != dup {
		t.Errorf("constraint violation %v: classified unavailable", dup)
	}
	undo := dbtest.Fill(t, d)
	_, err := d.Write.ExecContext(ctx, `INSERT INTO t VALUES (2, ?)`, strings.Repeat("x", 20000))
	if err == nil {
		t.Fatal("insert into a full file succeeded")
	}
	if got := apperr.ErrorCode(db.Unavailable(err)); got != apperr.EUNAVAILABLE {
		t.Errorf("full: code %q for %v, want unavailable", got, err)
	}
	undo()
	if _, err := d.Write.ExecContext(ctx, `INSERT INTO t VALUES (2, ?)`, strings.Repeat("x", 20000)); err != nil {
		t.Errorf("after lifting the limit: %v", err)
	}
}

// TestUnavailablePostgresTerminated: a query on a session the server
// killed, and a connection the server refuses, are EUNAVAILABLE; a
// syntax error is not.
func TestUnavailablePostgresTerminated(t *testing.T) {
	url := dbtest.PostgresURL(t, "snippetd_unavail")
	if url == "" {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	d, err := db.Open(ctx, "", url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, syntax := d.ExecContext(ctx, `SELEC 1`)
	if syntax == nil || db.IsUnavailable(syntax) {
		t.Errorf("syntax error %v classified unavailable", syntax)
	}
	// A transaction pins its session, so the kill reaches the statement
	// (the pool would otherwise quietly reconnect).
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := dbtest.TerminateSessions(t, url); n == 0 {
		t.Fatal("no session to terminate")
	}
	_, err = tx.ExecContext(ctx, `SELECT 1`)
	tx.Rollback()
	if err == nil || apperr.ErrorCode(db.Unavailable(err)) != apperr.EUNAVAILABLE {
		t.Errorf("terminated session: %v, want unavailable", err)
	}
	allow := dbtest.Refuse(t, url)
	_, err = d.ExecContext(ctx, `SELECT 1`)
	allow()
	if err == nil || apperr.ErrorCode(db.Unavailable(err)) != apperr.EUNAVAILABLE {
		t.Errorf("refused connection: %v, want unavailable", err)
	}
}

// TestWriteReady: the write probe fails while writes cannot be
// acknowledged and passes again once they can, on both databases.
func TestWriteReady(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		d := dbtest.SQLite(t)
		d.SetProbeEvery(time.Millisecond)
		if err := d.WriteReady(ctx); err != nil {
			t.Fatalf("healthy: %v", err)
		}
		undo := dbtest.Fill(t, d)
		time.Sleep(2 * time.Millisecond)
		if err := d.WriteReady(ctx); apperr.ErrorCode(err) != apperr.EUNAVAILABLE {
			t.Errorf("full: %v, want unavailable", err)
		}
		undo()
		time.Sleep(2 * time.Millisecond)
		if err := d.WriteReady(ctx); err != nil {
			t.Errorf("after the disk has room again: %v", err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		url := dbtest.PostgresURL(t, "snippetd_ready")
		if url == "" {
			t.Skip("no PostgreSQL")
		}
		d, err := db.Open(ctx, "", url)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		d.SetProbeEvery(time.Millisecond)
		if err := d.WriteReady(ctx); err != nil {
			t.Fatalf("healthy: %v", err)
		}
		allow := dbtest.Refuse(t, url)
		time.Sleep(2 * time.Millisecond)
		err = d.WriteReady(ctx)
		allow()
		if apperr.ErrorCode(err) != apperr.EUNAVAILABLE {
			t.Errorf("database refusing connections: %v, want unavailable", err)
		}
		time.Sleep(2 * time.Millisecond)
		if err := d.WriteReady(ctx); err != nil {
			t.Errorf("after the outage: %v", err)
		}
	})
}
