package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/internal/outbox"
)

// BackfillSource is the outbox source of backfilled events (the
// inspector and `snippetd outbox` list them under it).
const BackfillSource = "backfill"

// BackfillOptions are the flags of `snippetd backfill`.
type BackfillOptions struct {
	// Orders is the file of historical orders ("-" for standard input).
	Orders string
	// Format is auto, jsonl, json or csv.
	Format string
	// DryRun validates and prints the summary without storing anything.
	DryRun bool
	// NoWait returns once the events are stored in the outbox, leaving
	// delivery to `snippetd serve` (or a later backfill).
	NoWait bool
	// Sender replaces the Klaviyo client (tests); nil builds one from cfg.
	Sender klaviyo.Sender
	// Outbox tunes the outbox this command opens (tests; zero: defaults).
	Outbox outbox.Options
	// Poll is how often the wait reads the outbox's progress (default
	// 250ms).
	Poll time.Duration
	// Unseen is how long the wait trusts a delivery lock holder that
	// records no delivery target before giving up on it (default 15s).
	Unseen time.Duration
}

// BackfillResult is the outcome of `snippetd backfill`: the enqueue
// summary, then what the outbox did with this run's events.
type BackfillResult struct {
	orders.Summary
	// Waited is false with --no-wait or a dry run (Delivered and Dead are
	// then unknown).
	Waited          bool
	Delivered, Dead int64
	// DeadLetters are this run's dead letters (at most 20), with
	// Klaviyo's response.
	DeadLetters []outbox.DeadLetter
	// DeliveredBy says where the events went: this process, or the
	// deliverer another process recorded.
	DeliveredBy string
}

// Backfill runs `snippetd backfill`: it reads the orders, opens the
// database, stores each order's events in the outbox (recording the order,
// so a re-run skips it), then waits until the outbox has delivered or
// dead-lettered them. This process delivers them itself (outbox.Run with
// the Klaviyo client) unless another process holds the outbox's delivery
// lock, such as `snippetd serve` on the same database: then it only
// watches. Progress goes to progress (a bar when terminal), the summary to
// out. It returns an error when orders failed, events were dead-lettered,
// or the run stopped, so scripts see a non-zero exit.
func Backfill(ctx context.Context, cfg config.Config, o BackfillOptions, stdin io.Reader, out, progress io.Writer, terminal bool, logger *slog.Logger) (BackfillResult, error) {
	var res BackfillResult
	if o.Orders == "" {
		return res, errors.New("backfill: --orders FILE is required (- for standard input)")
	}
	in := stdin
	if o.Orders != "-" {
		f, err := os.Open(o.Orders)
		if err != nil {
			return res, fmt.Errorf("backfill: %w", err)
		}
		defer f.Close()
		in = f
	}
	inputs, err := orders.ReadOrders(in, o.Format, OrderDefaults(cfg).Location)
	if err != nil {
		return res, fmt.Errorf("backfill: read %s: %w", o.Orders, err)
	}
	sender := o.Sender
	if sender == nil && !o.DryRun && !o.NoWait {
		if cfg.PrivateKey == "" {
			return res, errors.New("backfill: set SNIPPETD_PRIVATE_KEY (or SNIPPETD_PRIVATE_KEY_FILE) to deliver, or use --no-wait (snippetd serve delivers) or --dry-run")
		}
		c, err := NewKlaviyoClient(cfg, logger)
		if err != nil {
			return res, err
		}
		sender = c
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return res, fmt.Errorf("data dir: %w", err)
	}
	d, err := db.Open(ctx, cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return res, fmt.Errorf("database: %w", err)
	}
	defer d.Close()
	st, err := orders.OpenStore(ctx, d)
	if err != nil {
		return res, fmt.Errorf("orders store: %w", err)
	}
	b := &orders.Backfill{Store: st, DryRun: o.DryRun, Defaults: OrderDefaults(cfg)}
	if o.DryRun {
		res.Summary, err = b.Run(ctx, inputs)
		res.Write(out)
		return res, res.err(err)
	}

	opts := o.Outbox
	if opts.Logger == nil {
		opts.Logger = logger
	}
	opts.Target = DeliveryTarget(cfg, false)
	opts.KeySetting = KeySetting(cfg)
	if opts.JobSender == nil {
		// The orders' marketing consent goes out while the run's events
		// do; what is left when they are done, snippetd serve sends.
		opts.JobSender = consentSender(sender)
	}
	ob, err := outbox.Open(ctx, d, opts)
	if err != nil {
		return res, fmt.Errorf("outbox: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		ob.Close(cctx)
	}()
	// Events meant for Klaviyo must not be stored where a local sink
	// delivers them (a server without a key on the same database).
	if sender != nil || cfg.PrivateKey != "" {
		if sink, err := sinkDeliverer(ctx, d, ob.Instance()); err != nil {
			return res, err
		} else if sink != nil {
			return res, fmt.Errorf("backfill: %s delivers this database's events, and nothing it delivers reaches Klaviyo; stop it or give it SNIPPETD_PRIVATE_KEY, then run the backfill again (nothing was enqueued)", sink)
		}
	}
	mark, err := outbox.Mark(ctx, d, BackfillSource)
	if err != nil {
		return res, err
	}
	b.Publisher = outbox.Producer{Outbox: ob, Name: BackfillSource}
	b.Consent = &consent.Service{Jobs: ob, ListID: cfg.ListID, SMSListID: cfg.SMSListID, DefaultCountry: cfg.DefaultCountry}
	res.Summary, err = b.Run(ctx, inputs)
	if err != nil || o.NoWait {
		res.Write(out)
		if err == nil {
			fmt.Fprintln(out, "  not waiting (--no-wait): snippetd serve on this database delivers them; see snippetd outbox status")
		}
		return res, res.err(err)
	}

	// Deliver (or stand by while another process holds the delivery
	// lock) and watch this run's events until none is pending.
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { ob.Run(runCtx, sender); close(ran) }()
	defer func() { stop(); <-ran }()
	err = res.wait(ctx, d, mark, o, &orders.ProgressBar{W: progress, Terminal: terminal}, ob, progress)
	res.Write(out)
	return res, res.err(err)
}

// sinkDeliverer returns the deliverer, other than self, that delivers d's
// outbox to a local sink, if any.
func sinkDeliverer(ctx context.Context, d *db.DB, self string) (*outbox.Deliverer, error) {
	ds, err := outbox.Deliverers(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("read the outbox's deliverers: %w", err)
	}
	for _, x := range ds {
		if x.Instance != self && x.LocalSink() {
			return &x, nil
		}
	}
	return nil, nil
}

// deliverer checks who delivers the run's events while this process does
// not: it describes the deliverer, or says why waiting on it is pointless
// (a local sink, a paused deliverer, or none recorded for longer than
// unseen).
func (res *BackfillResult) deliverer(ctx context.Context, d *db.DB, ob *outbox.Outbox, unseenSince *time.Time, unseen time.Duration) error {
	st, err := ob.Status(ctx)
	if err != nil {
		return nil // progress reads report storage problems
	}
	if st.Paused != "" {
		return fmt.Errorf("backfill: %s", st.Paused)
	}
	if st.Leader {
		res.DeliveredBy = "this process, to " + ob.Target()
		*unseenSince = time.Time{}
		return nil
	}
	ds, err := outbox.Deliverers(ctx, d)
	if err != nil {
		return nil
	}
	for _, x := range ds {
		if x.Instance == ob.Instance() {
			continue
		}
		switch {
		case x.LocalSink():
			return fmt.Errorf("backfill: the events are being delivered by %s: nothing it delivers reaches Klaviyo; stop it or give it SNIPPETD_PRIVATE_KEY (the events it has not delivered yet stay queued)", x)
		case x.Paused != "":
			return fmt.Errorf("backfill: delivery is paused at %s: %s", x, x.Paused)
		}
		res.DeliveredBy = x.String()
		*unseenSince = time.Time{}
		return nil
	}
	if unseenSince.IsZero() {
		*unseenSince = time.Now()
	} else if time.Since(*unseenSince) > unseen {
		return fmt.Errorf("backfill: another process holds the delivery lock but has not recorded where it delivers for %s (an older snippetd, or one that cannot write); not waiting on a deliverer that cannot be seen: the events stay queued, see snippetd outbox status", unseen)
	}
	return nil
}

// wait polls the outbox until none of the run's events is pending.
func (res *BackfillResult) wait(ctx context.Context, d *db.DB, mark int64, o BackfillOptions, bar *orders.ProgressBar, ob *outbox.Outbox, log io.Writer) error {
	poll := cmp.Or(o.Poll, 250*time.Millisecond)
	unseen := cmp.Or(o.Unseen, 15*time.Second)
	var unseenSince time.Time
	first := true
	var lastErr string
	for {
		if err := res.deliverer(ctx, d, ob, &unseenSince, unseen); err != nil {
			bar.Finish()
			return err
		}
		c, err := outbox.CountSince(ctx, d, BackfillSource, mark)
		if err != nil {
			return fmt.Errorf("read outbox progress: %w", err)
		}
		p := orders.Progress{EventsDone: int(c.Done()), EventsTotal: int(c.Done() + c.Pending), Dead: int(c.Dead)}
		if first {
			bar.Start(p.EventsTotal)
			first = false
		}
		bar.Update(p)
		res.Delivered, res.Dead = c.Delivered, c.Dead
		if c.Pending == 0 {
			bar.Finish()
			res.Waited = true
			res.DeadLetters, err = outbox.DeadLettersSince(ctx, d, BackfillSource, mark, 20)
			return err
		}
		if s, err := ob.Status(ctx); err == nil && s.LastError != "" && s.LastError != lastErr {
			lastErr = s.LastError
			fmt.Fprintf(log, "\nbackfill: delivery problem (still retrying): %s\n", lastErr)
		}
		select {
		case <-ctx.Done():
			bar.Finish()
			return fmt.Errorf("backfill: stopped while %d events were pending; they stay queued and are delivered by snippetd serve or the next backfill: %w", c.Pending, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// Write prints the enqueue summary, then the delivery outcome.
func (res BackfillResult) Write(w io.Writer) {
	res.Summary.Write(w)
	if !res.Waited {
		return
	}
	fmt.Fprintf(w, "  delivered: %d events; dead-lettered: %d\n", res.Delivered, res.Dead)
	if res.DeliveredBy != "" {
		fmt.Fprintf(w, "  delivered by: %s\n", res.DeliveredBy)
	}
	for _, l := range res.DeadLetters {
		fmt.Fprintf(w, "    %s %s (%s): status %d: %s\n", l.Metric, l.UniqueID, l.Profile, l.Status, truncateText(l.Response, 300))
	}
	if res.Dead > 0 {
		fmt.Fprintln(w, "  see snippetd outbox dead-letters for every dead letter and Klaviyo's response; snippetd outbox replay requeues them")
	}
}

func (res BackfillResult) err(err error) error {
	switch {
	case err != nil:
		return err
	case len(res.Failures) > 0:
		return fmt.Errorf("backfill: %d orders failed (see above); fix them and run again: enqueued orders are skipped", len(res.Failures))
	case res.Dead > 0:
		return fmt.Errorf("backfill: %d events were dead-lettered (see above)", res.Dead)
	}
	return nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// OrderDefaults maps the configuration's shop defaults to the orders'.
func OrderDefaults(cfg config.Config) orders.Defaults {
	return orders.Defaults{Country: cfg.DefaultCountry, Location: cfg.DefaultTimezone, Currency: cfg.Currency}
}
