// Package db opens snippetd's one database — an embedded SQLite file under
// the data directory by default, PostgreSQL when a database URL is given —
// and lets each store (outbox, orders, catalog) create its own tables with
// Migrate. Queries are written with `?` placeholders and passed through
// Rebind so the same SQL runs on both.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Dialect names the SQL flavour of an open DB.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database with its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Path is the SQLite file (empty for PostgreSQL).
	Path string
	// Write is the pool that write transactions should use. For SQLite it
	// is one dedicated connection, so writers of this process queue in Go
	// (cheap, fair) instead of racing for SQLite's write lock and sleeping
	// in its busy handler; readers keep using DB concurrently (WAL). For
	// PostgreSQL it is the same pool as DB.
	Write *sql.DB
}

// Open opens PostgreSQL when url starts with postgres:// or postgresql://,
// otherwise the SQLite file snippetd.db in dataDir (WAL, synchronous=FULL,
// foreign keys on, 5 s busy timeout).
func Open(ctx context.Context, dataDir, url string) (*DB, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		sdb, err := sql.Open("pgx", url)
		if err != nil {
			return nil, err
		}
		sdb.SetMaxOpenConns(16)
		if err := sdb.PingContext(ctx); err != nil {
			sdb.Close()
			return nil, fmt.Errorf("postgres: %w", err)
		}
		d := &DB{DB: sdb, Dialect: Postgres, Write: sdb}
		return d, d.init(ctx)
	}
	if url != "" {
		return nil, fmt.Errorf("database url must start with postgres:// (got a %q url); leave it empty for the embedded SQLite file", strings.SplitN(url, ":", 2)[0])
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, "snippetd.db")
	return OpenSQLite(ctx, path)
}

// OpenSQLite opens (creating if needed) the SQLite file at path.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)&_txlock=immediate"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		sdb.Close()
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	d := &DB{DB: sdb, Dialect: SQLite, Path: path, Write: w}
	return d, d.init(ctx)
}

// Close closes the database (and, for SQLite, its write connection).
func (d *DB) Close() error {
	var err error
	if d.Write != nil && d.Write != d.DB {
		err = d.Write.Close()
	}
	return errors.Join(err, d.DB.Close())
}

func (d *DB) init(ctx context.Context) error {
	_, err := d.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL,
		version INTEGER NOT NULL,
		PRIMARY KEY (component, version))`)
	if err != nil {
		d.Close()
	}
	return err
}

// Rebind rewrites `?` placeholders as `$1, $2, ...` for PostgreSQL. It does
// not look inside string literals: keep literals out of queries that use
// placeholders.
func (d *DB) Rebind(query string) string {
	if d.Dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Migrate applies, in order, the statements of component that have not run
// yet; statement i is version i+1. Each runs in its own transaction with
// its version row, so a crash never leaves a half-applied step. Never edit
// or reorder a released statement: append new ones.
func (d *DB) Migrate(ctx context.Context, component string, stmts []string) error {
	for i, stmt := range stmts {
		version := i + 1
		tx, err := d.Write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var n int
		err = tx.QueryRowContext(ctx, d.Rebind(`SELECT COUNT(*) FROM schema_migrations WHERE component = ? AND version = ?`), component, version).Scan(&n)
		if err == nil && n == 0 {
			if _, err = tx.ExecContext(ctx, stmt); err == nil {
				_, err = tx.ExecContext(ctx, d.Rebind(`INSERT INTO schema_migrations (component, version) VALUES (?, ?)`), component, version)
			}
		}
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s to version %d: %w", component, version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s to version %d: %w", component, version, err)
		}
	}
	return nil
}
