package outbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/snippetd/snippetd/internal/db"
)

// The advisory lock alone does not keep two deliverers apart: when the
// leader's lock session dies while its process lives, a standby takes the
// lock at once while the old leader still sends on its other pooled
// connections until it notices. The lease row fences them. The leader
// holds an epoch and a lease (lease_until, on the database's clock) that it
// renews every LeaseDuration/3 with an UPDATE that matches its epoch; it
// sends only while its own, local view of the lease lasts (measured from
// before the renewal was issued, so it ends no later than the row's), and
// every request runs under a context that ends with it. A successor bumps
// the epoch in the transaction that reads the row (so the old leader's
// next renewal fails and it stops starting requests), then waits until the
// old lease_until plus leaseMargin before its first request: by then every
// request of the old leader has ended and its results are recorded.

// leaseMargin is what a successor waits beyond the old lease: the bytes of
// a request cancelled at the lease's end, and the old leader recording the
// answers it got just before.
const leaseMargin = 500 * time.Millisecond

// errDeposed means another instance took the delivery epoch.
var errDeposed = errors.New("outbox: another instance took the delivery lease")

func leaseMigrations() []string {
	return []string{
		`CREATE TABLE outbox_lease (
			id INTEGER PRIMARY KEY,
			holder TEXT NOT NULL,
			epoch BIGINT NOT NULL,
			lease_until BIGINT NOT NULL
		)`,
		`INSERT INTO outbox_lease (id, holder, epoch, lease_until) VALUES (1, '', 0, 0)`,
	}
}

// dbNowMillis is the database's clock in Unix milliseconds: every lease
// time is compared on this one clock, whatever the instances' clocks say.
const dbNowMillis = `(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT`

// lease is this instance's hold on the delivery role on PostgreSQL.
type lease struct {
	d      *db.DB
	holder string
	length time.Duration
	epoch  int64

	mu  sync.Mutex
	end time.Time // local clock; sends must end by then
}

// acquireLease takes the next epoch and returns the lease with how long to
// wait before the first request (the previous holder's lease, unless it
// was this instance).
func acquireLease(ctx context.Context, d *db.DB, holder string, length time.Duration) (*lease, time.Duration, error) {
	start := time.Now()
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var prev string
	var epoch, until, now int64
	if err := tx.QueryRowContext(ctx, `SELECT holder, epoch, lease_until, `+dbNowMillis+` FROM outbox_lease WHERE id = 1 FOR UPDATE`).Scan(&prev, &epoch, &until, &now); err != nil {
		return nil, 0, err
	}
	var wait time.Duration
	if prev != holder && until+leaseMargin.Milliseconds() > now {
		wait = time.Duration(until+leaseMargin.Milliseconds()-now) * time.Millisecond
	}
	l := &lease{d: d, holder: holder, length: length, epoch: epoch + 1}
	// The new lease starts after the wait: no request before then.
	if _, err := tx.ExecContext(ctx, `UPDATE outbox_lease SET holder = $1, epoch = $2, lease_until = $3 WHERE id = 1`,
		holder, l.epoch, now+(wait+length).Milliseconds()); err != nil {
		return nil, 0, err
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, err
	}
	l.end = start.Add(wait + length)
	return l, wait, nil
}

// renew extends the lease if this instance still holds the epoch; it
// returns errDeposed when another instance took it.
func (l *lease) renew(ctx context.Context) error {
	start := time.Now()
	res, err := l.d.Write.ExecContext(ctx, `UPDATE outbox_lease SET lease_until = `+dbNowMillis+` + $1 WHERE id = 1 AND epoch = $2`, l.length.Milliseconds(), l.epoch)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errDeposed
	}
	l.mu.Lock()
	l.end = start.Add(l.length)
	l.mu.Unlock()
	return nil
}

// release ends the lease now, so that a successor need not wait: called
// once no request of this epoch is in flight.
func (l *lease) release(ctx context.Context) {
	l.d.Write.ExecContext(ctx, `UPDATE outbox_lease SET lease_until = `+dbNowMillis+` WHERE id = 1 AND epoch = $1`, l.epoch)
}

func (l *lease) until() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// hold renews the lease every length/3 until ctx ends or the lease is lost
// (deposed, or not renewed in time), then cancels lost. It cancels sends
// when the local lease ends, however that happens.
func (l *lease) hold(ctx context.Context, lost context.CancelCauseFunc, sends context.CancelFunc) {
	t := time.NewTicker(l.length / 3)
	defer t.Stop()
	for {
		end := l.until()
		timer := time.NewTimer(time.Until(end))
		select {
		case <-ctx.Done():
			timer.Stop()
			// Stepping down: requests in flight may finish within the lease.
			go func() { sleep(context.Background(), time.Until(l.until())); sends() }()
			return
		case <-timer.C:
			lost(errors.New("outbox: delivery lease expired before it could be renewed"))
			sends()
			return
		case <-t.C:
			timer.Stop()
			rctx, cancel := context.WithDeadline(ctx, end)
			err := l.renew(rctx)
			cancel()
			if errors.Is(err, errDeposed) {
				lost(err)
				go func() { sleep(context.Background(), time.Until(l.until())); sends() }()
				return
			}
		}
	}
}
