package db

import (
	"context"
	"strings"
	"sync"
	"time"
)

// ProbeEvery is how long a write probe's outcome stands before WriteReady
// runs another: readiness polled every second by several load balancers
// still costs one small commit a second.
const ProbeEvery = time.Second

// probePad is the size of the row the SQLite probe inserts and rolls back:
// more than a page (4 KB), so that the insert must allocate pages and
// fails with SQLITE_FULL when the file cannot grow, exactly when the
// stores' inserts fail.
const probePad = 3 * 4096

// writeProbe caches the outcome of the last write probe.
type writeProbe struct {
	mu    sync.Mutex
	at    time.Time
	err   error
	every time.Duration
}

// SetProbeEvery changes how long a probe outcome is reused (tests use a
// few milliseconds).
func (d *DB) SetProbeEvery(every time.Duration) {
	d.probe.mu.Lock()
	d.probe.every = every
	d.probe.at = time.Time{}
	d.probe.mu.Unlock()
}

// WriteReady reports whether an acknowledged write is possible now: the
// outcome of a small write transaction, run at most once per ProbeEvery
// (callers in between get the last outcome). It is the readiness check a
// load balancer should see fail when the database is unreachable, its
// session killed, the disk full or the file read-only, not only when the
// process is down. Failures are classified by Unavailable.
func (d *DB) WriteReady(ctx context.Context) error {
	d.probe.mu.Lock()
	defer d.probe.mu.Unlock()
	every := d.probe.every
	if every == 0 {
		every = ProbeEvery
	}
	if !d.probe.at.IsZero() && time.Since(d.probe.at) < every {
		return d.probe.err
	}
	err := Unavailable(d.probeWrite(ctx))
	d.probe.at, d.probe.err = time.Now(), err
	return err
}

// probeWrite commits one tiny upsert on the write pool (a commit that
// writes the WAL, as every acknowledged write does); on SQLite it first
// inserts and rolls back a row larger than a page inside a savepoint, so
// a file that cannot grow fails the probe without keeping any page.
func (d *DB) probeWrite(ctx context.Context) error {
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if d.Dialect == SQLite {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT probe`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO db_probe (id, at, pad) VALUES (2, 0, ?)`, strings.Repeat("x", probePad)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO probe`); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO db_probe (id, at, pad) VALUES (1, ?, '') ON CONFLICT (id) DO UPDATE SET at = excluded.at`), time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
