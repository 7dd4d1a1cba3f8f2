package outbox

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// Jobs are the outbox's second kind of durable work: consent and profile
// requests (subscriptions, unsubscriptions, profile upserts, deletions,
// back-in-stock requests). Like events they are acknowledged only once
// committed, and delivered by the leader's loop; unlike events, several
// of one kind and group share one request (a bulk subscribe job of up to
// 1,000 profiles), a profile's pending upsert is coalesced with the next
// one, and a job can be stored once per key for ever (an order's consent).

// Job kinds.
const (
	JobSubscribe   = "subscribe"
	JobUnsubscribe = "unsubscribe"
	JobProfile     = "profile"
	JobErase       = "erase"
	JobBackInStock = "back_in_stock"
)

// jobBatch is how many jobs of a kind one request carries (1 when absent).
var jobBatch = map[string]int{
	JobSubscribe:   klaviyo.MaxSubscribeProfiles,
	JobUnsubscribe: klaviyo.MaxUnsubscribeProfiles,
}

func maxJobBatch(kind string) int {
	if n := jobBatch[kind]; n > 0 {
		return n
	}
	return 1
}

// JobSender sends stored jobs: one request for payloads of one kind and
// group (at most the kind's batch size), classified like events.
type JobSender interface {
	SendJob(ctx context.Context, kind, group string, payloads [][]byte) klaviyo.Outcome
}

// Job is one unit of consent or profile work as the outbox stores it.
type Job struct {
	Kind string
	// Group: jobs of one kind and group may share a request (a bulk
	// subscribe's list, channels and source).
	Group string
	// ProfileKey names whom the job is about ("email:a@b.c"), for
	// per-profile order and erasure.
	ProfileKey string
	Payload    []byte
	// Coalesce, when set, replaces a pending job of the same kind and
	// key instead of adding one (Merge, when set, combines the older
	// pending payload with this one).
	Coalesce string
	Merge    func(older []byte) ([]byte, error)
	// Once, when set, stores the job only if no job with this key was
	// ever stored (an order's consent, however often it is re-sent).
	Once string
}

func jobMigrations(dialect db.Dialect) []string {
	id := "id INTEGER PRIMARY KEY AUTOINCREMENT"
	if dialect == db.Postgres {
		id = "id BIGSERIAL PRIMARY KEY"
	}
	return []string{
		`CREATE TABLE outbox_jobs (
			` + id + `,
			kind TEXT NOT NULL,
			grp TEXT NOT NULL,
			profile_key TEXT NOT NULL,
			coalesce_key TEXT NOT NULL DEFAULT '',
			payload TEXT NOT NULL,
			state TEXT NOT NULL DEFAULT 'pending',
			version INTEGER NOT NULL DEFAULT 0,
			attempts INTEGER NOT NULL DEFAULT 0,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL,
			last_status INTEGER NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX outbox_jobs_pending ON outbox_jobs (id) WHERE state = 'pending'`,
		`CREATE INDEX outbox_jobs_coalesce ON outbox_jobs (kind, coalesce_key) WHERE state = 'pending'`,
		`CREATE INDEX outbox_jobs_profile ON outbox_jobs (profile_key)`,
		`CREATE INDEX outbox_jobs_done ON outbox_jobs (updated_at) WHERE state <> 'pending'`,
		`CREATE TABLE outbox_job_once (once_key TEXT PRIMARY KEY, created_at BIGINT NOT NULL)`,
	}
}

func migrateJobs(ctx context.Context, d *db.DB) error {
	return d.Migrate(ctx, "outbox_jobs", jobMigrations(d.Dialect))
}

// EnqueueJobs stores jobs in one transaction and returns how many were
// stored (a Once job already stored, or a coalesced one, is not counted as
// new). A nil error means they will be delivered even if the process is
// killed right after. Storage failures are EUNAVAILABLE.
func (o *Outbox) EnqueueJobs(ctx context.Context, jobs []Job) (int, error) {
	select {
	case <-o.closing:
		return 0, apperr.Errorf(apperr.EUNAVAILABLE, "shutting down; nothing stored")
	default:
	}
	if len(jobs) == 0 {
		return 0, nil
	}
	n, err := o.enqueueJobs(ctx, jobs)
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			return 0, err
		}
		o.log.Error("outbox: storing jobs failed", "jobs", len(jobs), "err", err)
		return 0, apperr.Errorf(apperr.EUNAVAILABLE, "could not store the request; nothing was accepted, retry later")
	}
	select {
	case o.jobWake <- struct{}{}:
	default:
	}
	return n, nil
}

func (o *Outbox) enqueueJobs(ctx context.Context, jobs []Job) (int, error) {
	tx, err := o.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	stored := 0
	for _, j := range jobs {
		if j.Once != "" {
			res, err := tx.ExecContext(ctx, o.db.Rebind(`INSERT INTO outbox_job_once (once_key, created_at) VALUES (?, ?) ON CONFLICT (once_key) DO NOTHING`), j.Once, now)
			if err != nil {
				return 0, err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
		}
		if j.Coalesce != "" {
			var id int64
			var older string
			err := tx.QueryRowContext(ctx, o.db.Rebind(`SELECT id, payload FROM outbox_jobs WHERE state = 'pending' AND kind = ? AND coalesce_key = ? ORDER BY id DESC LIMIT 1`), j.Kind, j.Coalesce).Scan(&id, &older)
			switch {
			case err == nil:
				payload := j.Payload
				if j.Merge != nil {
					if payload, err = j.Merge([]byte(older)); err != nil {
						return 0, err
					}
				}
				if _, err := tx.ExecContext(ctx, o.db.Rebind(`UPDATE outbox_jobs SET payload = ?, version = version + 1, updated_at = ? WHERE id = ?`), string(payload), now, id); err != nil {
					return 0, err
				}
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return 0, err
			}
		}
		if _, err := tx.ExecContext(ctx, o.db.Rebind(`INSERT INTO outbox_jobs (kind, grp, profile_key, coalesce_key, payload, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			j.Kind, j.Group, j.ProfileKey, j.Coalesce, string(j.Payload), now, now); err != nil {
			return 0, err
		}
		stored++
	}
	return stored, tx.Commit()
}

// jobRow is one pending job as read for delivery.
type jobRow struct {
	id         int64
	kind, grp  string
	profileKey string
	payload    []byte
	version    int64
	createdAt  int64
	updatedAt  int64
}

func (o *Outbox) loadPendingJobs(ctx context.Context, limit int) ([]jobRow, error) {
	rs, err := o.db.QueryContext(ctx, o.db.Rebind(`SELECT id, kind, grp, profile_key, payload, version, created_at, updated_at FROM outbox_jobs WHERE state = 'pending' ORDER BY id LIMIT ?`), limit)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []jobRow
	for rs.Next() {
		var r jobRow
		if err := rs.Scan(&r.id, &r.kind, &r.grp, &r.profileKey, &r.payload, &r.version, &r.createdAt, &r.updatedAt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// planJobs cuts rows (oldest first) into requests: per kind and group, in
// chunks of the kind's batch size. A chunk smaller than that waits while
// its group keeps growing, until no job joined it for linger (or its
// oldest is 10 lingers old), so that a burst goes out in full jobs rather
// than one per arrival; a profile upsert waits likewise until it was not
// edited for linger, so quick edits go out as one request. Planning stops at the first job whose profile
// already has a job of another kind in this round, so a profile's
// subscribe and later unsubscribe are sent in order. It also returns how
// long until the first waiting chunk is due (0: none waits).
func planJobs(rows []jobRow, now time.Time, linger time.Duration) (ready [][]jobRow, due time.Duration) {
	type gk struct{ kind, grp string }
	groups := map[gk][]jobRow{}
	var order []gk
	profileKind := map[string]string{}
	for _, r := range rows {
		if r.profileKey != "" {
			if k, ok := profileKind[r.profileKey]; ok && k != r.kind {
				break
			}
			profileKind[r.profileKey] = r.kind
		}
		k := gk{r.kind, r.grp}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	for _, k := range order {
		g := groups[k]
		size := maxJobBatch(k.kind)
		if size == 1 {
			for _, r := range g {
				// A profile upsert waits until it was not edited for
				// linger, so quick edits go out as one request.
				if k.kind == JobProfile {
					if wait := quietUntil(r.updatedAt, r.createdAt, linger).Sub(now); wait > 0 {
						if due == 0 || wait < due {
							due = wait
						}
						continue
					}
				}
				ready = append(ready, []jobRow{r})
			}
			continue
		}
		for len(g) > 0 {
			n := min(size, len(g))
			if n < size {
				if wait := quietUntil(g[len(g)-1].createdAt, g[0].createdAt, linger).Sub(now); wait > 0 {
					if due == 0 || wait < due {
						due = wait
					}
					break
				}
			}
			ready = append(ready, g[:n])
			g = g[n:]
		}
	}
	return ready, due
}

// quietUntil is when a job last changed at last (and first stored at
// first) may go: linger after its last change, but no later than ten
// lingers after it was first stored.
func quietUntil(last, first int64, linger time.Duration) time.Time {
	quiet := time.UnixMilli(last).Add(linger)
	if cap := time.UnixMilli(first).Add(10 * linger); cap.Before(quiet) {
		return cap
	}
	return quiet
}

// deliverJobs is the jobs' delivery loop, run beside the events' by the
// leader (see deliver). No request starts after ctx ends; they run under
// sends.
func (o *Outbox) deliverJobs(ctx, sends context.Context, js JobSender) {
	var failures int
	var lastPrune time.Time
	for ctx.Err() == nil {
		if time.Since(lastPrune) > time.Hour {
			if err := o.pruneJobs(ctx); err != nil {
				o.fail("prune jobs: %v", err)
			} else {
				lastPrune = time.Now()
			}
		}
		rows, err := o.loadPendingJobs(ctx, 10*klaviyo.MaxSubscribeProfiles)
		if err != nil {
			if ctx.Err() == nil {
				o.fail("load pending jobs: %v", err)
				failures++
				o.pause(ctx, o.backoff(failures))
			}
			continue
		}
		ready, due := planJobs(rows, time.Now(), o.opts.JobLinger)
		if len(ready) == 0 {
			wait := o.opts.PollInterval
			if due > 0 && due < wait {
				wait = due
			}
			select {
			case <-ctx.Done():
			case <-o.jobWake:
				// New jobs: let more of a burst gather before reading.
				sleep(ctx, min(o.opts.RoundInterval, wait))
			case <-time.After(wait):
			}
			continue
		}
		retry := o.sendJobs(ctx, sends, js, ready)
		if retry == nil {
			failures = 0
			continue
		}
		failures++
		o.retries.Add(1)
		wait := o.backoff(failures)
		if retry.RetryAfter > 0 {
			wait = max(wait, retry.RetryAfter)
		}
		if retry.Status == 429 {
			o.opts.Metrics.ObserveRateLimitWait(wait)
		}
		o.fail("klaviyo status %d on a job (%s); retrying in %s", retry.Status, truncate(retry.Detail, 200), wait.Round(time.Millisecond))
		o.pause(ctx, wait)
	}
}

// sendJobs sends the planned requests one at a time, recording each before
// the next goes: Klaviyo's subscription jobs carry no idempotency key, so a
// crash must leave at most one job Klaviyo took without its record (the
// one whose answer was in flight), not one per concurrent request. A
// retryable answer stops the round.
func (o *Outbox) sendJobs(ctx, sends context.Context, js JobSender, reqs [][]jobRow) *klaviyo.Outcome {
	for _, req := range reqs {
		if ctx.Err() != nil {
			return nil
		}
		if r := o.sendJobChunk(ctx, sends, js, req); r != nil {
			return r
		}
	}
	return nil
}

// sendJobChunk sends one request and records its outcome. A permanent
// refusal of several jobs is bisected so that only the refused ones
// become dead letters.
func (o *Outbox) sendJobChunk(ctx, sends context.Context, js JobSender, rows []jobRow) *klaviyo.Outcome {
	payloads := make([][]byte, len(rows))
	for i, r := range rows {
		payloads[i] = r.payload
	}
	o.requests.Add(1)
	out := js.SendJob(sends, rows[0].kind, rows[0].grp, payloads)
	o.opts.Metrics.ObserveDelivery("job_"+rows[0].kind, out.Kind.String(), out.Status, len(rows))
	var err error
	switch {
	case out.Kind == klaviyo.Delivered:
		err = o.recordJobs(ctx, rows, StateDelivered, out.Status, "")
		if err == nil {
			o.delivered.Add(int64(len(rows)))
		}
	case out.Kind == klaviyo.Permanent && !isAccountProblem(out):
		if len(rows) > 1 {
			mid := len(rows) / 2
			if r := o.sendJobChunk(ctx, sends, js, rows[:mid]); r != nil {
				return r
			}
			return o.sendJobChunk(ctx, sends, js, rows[mid:])
		}
		err = o.recordJobs(ctx, rows, StateDead, out.Status, out.Detail)
		if err == nil {
			o.dead.Add(1)
			o.opts.Metrics.ObserveDeadLetters(1)
		}
	default:
		err = o.recordJobs(ctx, rows, StatePending, out.Status, truncate(out.Detail, 2000))
		if err == nil {
			return &out
		}
	}
	if err != nil {
		// Unrecorded: the jobs stay pending and are sent again (a
		// subscription sent twice is the same subscription).
		o.fail("record jobs: %v", err)
		return &klaviyo.Outcome{Kind: klaviyo.Retryable, Detail: err.Error()}
	}
	return nil
}

// recordJobs writes an outcome for rows. A delivered job is marked only
// if it was not coalesced with a newer version meanwhile (that version is
// then sent next round); a delivered erasure is deleted.
func (o *Outbox) recordJobs(ctx context.Context, rows []jobRow, state string, status int, detail string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.opts.CommitTimeout)
	defer cancel()
	now := time.Now().UnixMilli()
	if state == StatePending {
		args := []any{status, detail}
		for _, r := range rows {
			args = append(args, r.id)
		}
		_, err := o.db.Write.ExecContext(rctx, o.db.Rebind(`UPDATE outbox_jobs SET attempts = attempts + 1, last_status = ?, last_error = ? WHERE state = 'pending' AND id IN (?`+strings.Repeat(",?", len(rows)-1)+`)`), args...)
		return err
	}
	if len(rows) == 1 && rows[0].kind == JobErase && state == StateDelivered {
		// A delivered erasure is not kept: its row names the person.
		del := func(ctx context.Context) error {
			_, err := o.db.Write.ExecContext(ctx, o.db.Rebind(`DELETE FROM outbox_jobs WHERE id = ?`), rows[0].id)
			return err
		}
		if o.opts.Scrub != nil {
			return o.opts.Scrub(rctx, del)
		}
		return del(rctx)
	}
	if len(rows) == 1 {
		r := rows[0]
		_, err := o.db.Write.ExecContext(rctx, o.db.Rebind(`UPDATE outbox_jobs SET state = ?, attempts = attempts + 1, updated_at = ?, last_status = ?, last_error = ?
			WHERE state = 'pending' AND id = ? AND version = ?`), state, now, status, detail, r.id, r.version)
		return err
	}
	args := []any{state, now, status, detail}
	for _, r := range rows {
		args = append(args, r.id)
	}
	_, err := o.db.Write.ExecContext(rctx, o.db.Rebind(`UPDATE outbox_jobs SET state = ?, attempts = attempts + 1, updated_at = ?, last_status = ?, last_error = ? WHERE state = 'pending' AND version = 0 AND id IN (?`+strings.Repeat(",?", len(rows)-1)+`)`), args...)
	return err
}

// pruneJobs deletes delivered and dead jobs past their retention.
func (o *Outbox) pruneJobs(ctx context.Context) error {
	now := time.Now()
	_, err := o.db.Write.ExecContext(ctx, o.db.Rebind(`DELETE FROM outbox_jobs WHERE (state = 'delivered' AND updated_at < ?) OR (state = 'dead' AND updated_at < ?)`),
		now.Add(-o.opts.Retention).UnixMilli(), now.Add(-o.opts.DeadRetention).UnixMilli())
	return err
}

// JobCounts counts jobs by state.
func (o *Outbox) JobCounts(ctx context.Context) (SourceCounts, error) {
	return stateCounts(ctx, o.db, `SELECT state, COUNT(*) FROM outbox_jobs GROUP BY state`)
}

// Erased counts what EraseProfile removed.
type Erased struct {
	Events int64 `json:"events"`
	Jobs   int64 `json:"jobs"`
}

// EraseProfile removes every stored event and job about a person: rows
// whose profile key is one of keys, or whose stored JSON contains one of
// needles (a JSON-escaped email or phone number), in any state. Pending
// erasure jobs are kept: they carry the deletion to Klaviyo and forget the
// person once delivered. It scans the tables (erasure is rare).
func (o *Outbox) EraseProfile(ctx context.Context, keys, needles []string) (Erased, error) {
	var er Erased
	if len(keys) == 0 && len(needles) == 0 {
		return er, nil
	}
	var where []string
	var args []any
	for _, k := range keys {
		where = append(where, "profile_key = ?")
		args = append(args, k)
	}
	for _, n := range needles {
		where = append(where, `payload LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(n)+"%")
	}
	evWhere := append([]string(nil), where...)
	evArgs := append([]any(nil), args...)
	for _, n := range needles {
		evWhere = append(evWhere, `profile LIKE ? ESCAPE '\'`)
		evArgs = append(evArgs, "%"+likeEscape(n)+"%")
	}
	tx, err := o.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return er, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, o.db.Rebind(`DELETE FROM outbox_events WHERE `+strings.Join(evWhere, " OR ")), evArgs...)
	if err != nil {
		return er, err
	}
	er.Events, _ = res.RowsAffected()
	res, err = tx.ExecContext(ctx, o.db.Rebind(`DELETE FROM outbox_jobs WHERE NOT (kind = 'erase' AND state = 'pending') AND (`+strings.Join(where, " OR ")+`)`), args...)
	if err != nil {
		return er, err
	}
	er.Jobs, _ = res.RowsAffected()
	return er, tx.Commit()
}

// likeEscape escapes LIKE's wildcards (with \ as the escape).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
