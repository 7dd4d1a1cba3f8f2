// Package db opens snippetd's one database — an embedded SQLite file under
// the data directory by default, PostgreSQL when a database URL is given —
// and lets each store (outbox, orders, catalog, carts, proxy) create its own
// tables with Migrate. Queries are written with `?` placeholders and passed
// through Rebind so the same SQL runs on both. It also classifies storage
// failures (Unavailable), probes writes for /readyz (WriteReady) and runs the
// retention tasks (Prune).
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
	"sync"
	"sync/atomic"
	"time"

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

	// The SQLite checkpointer (see checkpointLoop).
	stop, stopped   chan struct{}
	closeOnce       sync.Once
	walFrames       atomic.Int64 // after the checkpointer's last run
	walCheckpointed atomic.Int64
	walRuns         atomic.Int64

	probe writeProbe // see WriteReady
}

// WALState reports, after the background checkpointer's last run, the
// frames in the WAL and how many of them are in the database file, and
// how many runs it has completed (all zero for PostgreSQL).
func (d *DB) WALState() (frames, checkpointed, runs int64) {
	return d.walFrames.Load(), d.walCheckpointed.Load(), d.walRuns.Load()
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
	// wal_autocheckpoint(0): no commit pays for a checkpoint (copying the
	// WAL into the database file and syncing it, tens of milliseconds with
	// a writer queue waiting behind it); the checkpointer goroutine does it
	// on its own connection instead. journal_size_limit truncates a WAL
	// that a burst grew, once it restarts.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(67108864)&_txlock=immediate"
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
	d := &DB{DB: sdb, Dialect: SQLite, Path: path, Write: w, stop: make(chan struct{}), stopped: make(chan struct{})}
	go d.checkpointLoop()
	if err := d.init(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// checkpointInterval spaces the checkpointer's passive checkpoints.
const checkpointInterval = 100 * time.Millisecond

// walRestartFrames is the WAL length (4 KB frames, so about 16 MB) past
// which the checkpointer takes a writer's turn to finish a checkpoint.
const walRestartFrames = 4000

// checkpointLoop copies committed WAL frames into the database file in
// the background, so commits never stop to checkpoint (SQLite's
// auto-checkpoint runs inside the commit that crosses 1,000 pages, and
// every writer queued behind it waits for the copy and its fsync).
//
// Each round is a passive checkpoint on a read connection: it takes no
// lock a writer needs. Under a steady stream of commits it never copies
// the very last frames, though (they are appended while it runs), and the
// WAL starts over only once every frame is copied. So when the WAL has
// grown past walRestartFrames the round also checkpoints on the write
// connection, between two commits: with nearly every frame already
// copied this takes a moment, and the next commit starts the WAL over.
func (d *DB) checkpointLoop() {
	defer close(d.stopped)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			ctx := context.Background()
			frames, done, err := d.checkpoint(ctx, d.DB)
			if err == nil && frames >= walRestartFrames {
				frames, done, err = d.checkpoint(ctx, d.Write)
			}
			if err == nil {
				d.walFrames.Store(int64(frames))
				d.walCheckpointed.Store(int64(done))
				d.walRuns.Add(1)
			}
		}
	}
}

// checkpoint runs one passive checkpoint on pool and reports the WAL's
// frames and how many of them are in the database file.
func (d *DB) checkpoint(ctx context.Context, pool *sql.DB) (walFrames, checkpointed int, err error) {
	var busy int
	err = pool.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walFrames, &checkpointed)
	return walFrames, checkpointed, err
}

// Close closes the database (and, for SQLite, its write connection).
func (d *DB) Close() error {
	if d.stop != nil {
		d.closeOnce.Do(func() { close(d.stop) })
		<-d.stopped
	}
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
	if err == nil {
		err = d.Migrate(ctx, "db", []string{
			// One row that WriteReady's probe rewrites (id 1); the SQLite
			// probe's page-sized row (id 2) is always rolled back.
			`CREATE TABLE db_probe (id INTEGER PRIMARY KEY, at BIGINT NOT NULL, pad TEXT NOT NULL)`,
		})
	}
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
//
// The versions already applied are read first on the read pool, so that a
// component already current (the CLI and the inspector migrate on every
// call) costs one query, not a write transaction per version on SQLite's
// one write connection; each step still checks its version again inside
// its transaction, so concurrent migrations apply it once.
func (d *DB) Migrate(ctx context.Context, component string, stmts []string) error {
	applied, err := d.appliedVersions(ctx, component)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	for i, stmt := range stmts {
		version := i + 1
		if applied[version] {
			continue
		}
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

// appliedVersions returns the versions of component in schema_migrations.
func (d *DB) appliedVersions(ctx context.Context, component string) (map[int]bool, error) {
	rs, err := d.QueryContext(ctx, d.Rebind(`SELECT version FROM schema_migrations WHERE component = ?`), component)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	applied := map[int]bool{}
	for rs.Next() {
		var v int
		if err := rs.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rs.Err()
}
