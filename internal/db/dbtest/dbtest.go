// Package dbtest gives tests of every store the databases they must pass
// on: a fresh SQLite file, and a fresh PostgreSQL database on the server at
// 127.0.0.1:5432 (created for the test and dropped afterwards, so parallel
// test runs never collide). Tests skip PostgreSQL with a message when it is
// unreachable.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db"
)

// AdminURL is the PostgreSQL server tests use (trust auth); override with
// SNIPPETD_TEST_POSTGRES_URL pointing at a database the test may CREATE
// DATABASE from.
var AdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func init() {
	if u := os.Getenv("SNIPPETD_TEST_POSTGRES_URL"); u != "" {
		AdminURL = u
	}
}

// PostgresURL creates an empty database named prefix_<random> and returns
// its URL; it is dropped when the test ends. It returns "" (after logging
// why) when PostgreSQL is unreachable.
func PostgresURL(t testing.TB, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", AdminURL)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		t.Logf("PostgreSQL at %s is unreachable, skipping its half of this test (start it with pg_ctlcluster 15 main start): %v", AdminURL, err)
		return ""
	}
	var b [6]byte
	rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	// CREATE DATABASE waits for a checkpoint: seconds on a busy disk.
	cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
	defer ccancel()
	if _, err := admin.ExecContext(cctx, `CREATE DATABASE `+name); err != nil {
		admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	i := strings.LastIndex(AdminURL, "/")
	q := ""
	if j := strings.Index(AdminURL[i:], "?"); j >= 0 {
		q = AdminURL[i+j:]
	}
	return AdminURL[:i+1] + name + q
}

// Open returns the databases a store test runs against, keyed "sqlite" and
// (when reachable) "postgres", each fresh and closed at the end.
func Open(t testing.TB) map[string]*db.DB {
	t.Helper()
	ctx := context.Background()
	out := map[string]*db.DB{"sqlite": SQLite(t)}
	if url := PostgresURL(t, "snippetd_test"); url != "" {
		p, err := db.Open(ctx, "", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		out["postgres"] = p
	}
	return out
}

// SQLite returns a fresh SQLite database, closed at the end of the test,
// for tests of SQLite's behaviour alone.
func SQLite(t testing.TB) *db.DB {
	t.Helper()
	s, err := db.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Fill makes the SQLite file d full for its write connection (the pool
// every store writes through): max_page_count is lowered to the pages it
// has, so any write that needs a new page fails with SQLITE_FULL, as on a
// full disk. The returned func lifts the limit again.
func Fill(t testing.TB, d *db.DB) (undo func()) {
	t.Helper()
	ctx := context.Background()
	var pages int
	if err := d.Write.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	var got int
	if err := d.Write.QueryRowContext(ctx, `PRAGMA max_page_count = `+strconv.Itoa(pages)).Scan(&got); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := d.Write.QueryRowContext(ctx, `PRAGMA max_page_count = 4294967294`).Scan(&got); err != nil {
			t.Errorf("lift max_page_count: %v", err)
		}
	}
}

// TerminateSessions kills every backend connected to the database of url
// (pg_terminate_backend), as a failover or an operator would, and returns
// how many it killed.
func TerminateSessions(t testing.TB, url string) int {
	t.Helper()
	admin := adminDB(t)
	defer admin.Close()
	var n int
	if err := admin.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, DatabaseName(url)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Refuse makes the database of url refuse new connections and kills the
// ones it has, as an outage does; the returned func lets connections in
// again.
func Refuse(t testing.TB, url string) (allow func()) {
	t.Helper()
	name := DatabaseName(url)
	admin := adminDB(t)
	if _, err := admin.Exec(`ALTER DATABASE ` + name + ` ALLOW_CONNECTIONS false`); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	TerminateSessions(t, url)
	return func() {
		defer admin.Close()
		if _, err := admin.Exec(`ALTER DATABASE ` + name + ` ALLOW_CONNECTIONS true`); err != nil {
			t.Errorf("allow connections to %s: %v", name, err)
		}
	}
}

// DatabaseName is the database named by a PostgreSQL url.
func DatabaseName(url string) string {
	name := url[strings.LastIndex(url, "/")+1:]
	if i := strings.Index(name, "?"); i >= 0 {
		name = name[:i]
	}
	return name
}

func adminDB(t testing.TB) *sql.DB {
	t.Helper()
	admin, err := sql.Open("pgx", AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	return admin
}
