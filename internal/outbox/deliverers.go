package outbox

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// Every delivering process says where it delivers in outbox_deliverers:
// one row per instance while its loop holds the delivery role, renewed
// every Heartbeat and removed when it steps down. A process that only
// stores events (a backfill while `snippetd serve` delivers, the CLI)
// reads it to know whether its events go to Klaviyo or to some server's
// local sink, and whether delivery is paused.

// Targets a deliverer names.
const (
	// TargetLocalSink is the in-memory local sink: nothing reaches Klaviyo.
	TargetLocalSink = "local sink"
	// TargetKlaviyo prefixes a Klaviyo target ("klaviyo https://a.klaviyo.com").
	TargetKlaviyo = "klaviyo"
)

// staleAfter is how old a heartbeat may be before its deliverer is taken
// for gone (killed without removing its row).
const staleAfter = 15 * time.Second

func delivererMigrations() []string {
	return []string{
		`CREATE TABLE outbox_deliverers (
			instance TEXT PRIMARY KEY,
			target TEXT NOT NULL,
			host TEXT NOT NULL,
			pid INTEGER NOT NULL,
			started_at BIGINT NOT NULL,
			heartbeat_at BIGINT NOT NULL,
			paused TEXT NOT NULL DEFAULT ''
		)`,
	}
}

func migrateDeliverers(ctx context.Context, d *db.DB) error {
	return d.Migrate(ctx, "outbox_deliverers", delivererMigrations())
}

// Deliverer is a process delivering the outbox, as it last said.
type Deliverer struct {
	Instance string `json:"instance"`
	// Target is TargetLocalSink or "klaviyo <base URL>".
	Target string    `json:"target"`
	Host   string    `json:"host"`
	PID    int       `json:"pid"`
	Since  time.Time `json:"since"`
	// Heartbeat is when it last said it is alive.
	Heartbeat time.Time `json:"heartbeat"`
	// Paused says why delivery is paused ("" when it is not).
	Paused string `json:"paused,omitempty"`
}

// LocalSink reports whether d delivers to a local sink.
func (d Deliverer) LocalSink() bool { return d.Target == TargetLocalSink }

// String describes the deliverer for a person.
func (d Deliverer) String() string {
	return fmt.Sprintf("%s (pid %d on %s, instance %s)", d.Target, d.PID, d.Host, d.Instance)
}

// Deliverers lists the processes that deliver the outbox on d now (their
// heartbeat is recent), most recent first.
func Deliverers(ctx context.Context, d *db.DB) ([]Deliverer, error) {
	if err := migrateDeliverers(ctx, d); err != nil {
		return nil, err
	}
	rs, err := d.QueryContext(ctx, d.Rebind(`SELECT instance, target, host, pid, started_at, heartbeat_at, paused FROM outbox_deliverers WHERE heartbeat_at > ? ORDER BY heartbeat_at DESC`),
		time.Now().Add(-staleAfter).UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []Deliverer
	for rs.Next() {
		var x Deliverer
		var since, beat int64
		if err := rs.Scan(&x.Instance, &x.Target, &x.Host, &x.PID, &since, &beat, &x.Paused); err != nil {
			return nil, err
		}
		x.Since, x.Heartbeat = time.UnixMilli(since).UTC(), time.UnixMilli(beat).UTC()
		out = append(out, x)
	}
	return out, rs.Err()
}

// Instance names this process in outbox_deliverers.
func (o *Outbox) Instance() string { return o.instance }

// keyPause is the delivery loop's pause on a refused private key.
type keyPause struct {
	mu     sync.Mutex
	reason string
	resume chan struct{} // nudged by Resume
}

// announce records this process as the deliverer and keeps its heartbeat
// until the returned function is called (stepping down), which removes
// the row. Failures are logged: they must not stop delivery.
func (o *Outbox) announce(ctx context.Context) func() {
	host, _ := os.Hostname()
	now := time.Now().UnixMilli()
	write := func(ctx context.Context) error {
		_, err := o.db.Write.ExecContext(ctx, o.db.Rebind(`INSERT INTO outbox_deliverers (instance, target, host, pid, started_at, heartbeat_at, paused) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (instance) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, paused = excluded.paused, target = excluded.target`),
			o.instance, o.opts.Target, host, os.Getpid(), now, time.Now().UnixMilli(), o.PausedReason())
		return err
	}
	if err := write(ctx); err != nil && ctx.Err() == nil {
		o.fail("record the deliverer: %v", err)
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(o.opts.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
			case <-o.pauseChanged:
			}
			if err := write(hctx); err != nil && hctx.Err() == nil {
				o.fail("record the deliverer: %v", err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), o.opts.LeaderPoll*3)
		defer rcancel()
		o.db.Write.ExecContext(rctx, o.db.Rebind(`DELETE FROM outbox_deliverers WHERE instance = ?`), o.instance)
	}
}

// PausedReason says why delivery is paused, or "".
func (o *Outbox) PausedReason() string {
	o.paused.mu.Lock()
	defer o.paused.mu.Unlock()
	return o.paused.reason
}

// pauseForKey pauses delivery on an answer that refuses the private key,
// naming the setting to fix (logged once per reason).
func (o *Outbox) pauseForKey(out klaviyo.Outcome) {
	what := fmt.Sprintf("HTTP %d", out.Status)
	if len(out.Errors) > 0 && out.Errors[0].Code != "" {
		what += " " + out.Errors[0].Code
		if out.Errors[0].Detail != "" {
			what += ": " + truncate(out.Errors[0].Detail, 200)
		}
	}
	reason := fmt.Sprintf("Klaviyo refused the private key (%s); delivery is paused until %s is fixed, events stay queued", what, o.opts.KeySetting)
	o.paused.mu.Lock()
	changed := o.paused.reason != reason
	o.paused.reason = reason
	o.paused.mu.Unlock()
	if changed {
		o.log.Error("outbox: " + reason)
		o.lastErr.Store(&loopError{msg: reason, at: time.Now()})
		o.nudgePause()
	}
}

// unpause clears a pause after Klaviyo accepted a request.
func (o *Outbox) unpause() {
	o.paused.mu.Lock()
	was := o.paused.reason
	o.paused.reason = ""
	o.paused.mu.Unlock()
	if was != "" {
		o.log.Info("outbox: Klaviyo accepts the private key again; delivery resumed")
		o.nudgePause()
	}
}

func (o *Outbox) nudgePause() {
	select {
	case o.pauseChanged <- struct{}{}:
	default:
	}
}

// Resume tells a delivery loop paused on a refused private key to try
// again now (the key was replaced, see klaviyo.Client.SetKey) rather than
// at its next probe.
func (o *Outbox) Resume() {
	select {
	case o.paused.resume <- struct{}{}:
	default:
	}
}

// waitPaused waits d, or until Resume or ctx ends.
func (o *Outbox) waitPaused(ctx context.Context, d time.Duration) {
	if o.pauseHook != nil {
		o.pauseHook(ctx, d)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-o.paused.resume:
	}
}

// readyErr is Ready's answer while delivery is paused.
func (o *Outbox) readyErr() error {
	if r := o.PausedReason(); r != "" {
		return apperr.Errorf(apperr.EUNAVAILABLE, "%s", r)
	}
	return nil
}

// Target is where this process's Run delivers (Options.Target).
func (o *Outbox) Target() string { return o.opts.Target }
