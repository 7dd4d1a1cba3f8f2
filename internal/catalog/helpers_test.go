package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db"
)

var update = flag.Bool("update", os.Getenv("UPDATE_GOLDEN") == "1", "rewrite golden files (or UPDATE_GOLDEN=1)")

// golden compares got with testdata/golden/name, rewriting it with
// UPDATE_GOLDEN=1.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (UPDATE_GOLDEN=1 rewrites it):\n--- want\n%s\n--- got\n%s", name, want, got)
	}
}

const pgAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// testDBs returns a fresh SQLite database and, when reachable, a fresh
// PostgreSQL database created for this test and dropped after it.
func testDBs(t *testing.T) map[string]*db.DB {
	t.Helper()
	ctx := context.Background()
	out := map[string]*db.DB{}
	s, err := db.OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	out["sqlite"] = s
	if u := postgresURL(t); u != "" {
		p, err := db.Open(ctx, "", u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		out["postgres"] = p
	}
	return out
}

func postgresURL(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", pgAdminURL)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		t.Logf("PostgreSQL at 127.0.0.1:5432 unreachable, testing SQLite only (start it with pg_ctlcluster): %v", err)
		return ""
	}
	var b [6]byte
	rand.Read(b[:])
	name := "catalog_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
		admin.Close()
	})
	return "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
}

// openFile opens a catalog reading path with a tiny part size when
// partBytes > 0.
func openFile(t *testing.T, path string, partBytes int64) *Catalog {
	t.Helper()
	d, err := db.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := Open(context.Background(), Options{File: path, DB: d, Dir: t.TempDir(), PartBytes: partBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func feed(t *testing.T, c *Catalog, f Format, part int) []byte {
	t.Helper()
	s, release := c.Acquire()
	defer release()
	var buf bytes.Buffer
	if err := s.Write(&buf, f, part); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != s.Size(f, part) {
		t.Errorf("%s part %d: wrote %d bytes, Size says %d", f, part, buf.Len(), s.Size(f, part))
	}
	return buf.Bytes()
}
