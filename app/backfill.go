package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/snippetd/snippetd/config"
	"github.com/snippetd/snippetd/db"
	"github.com/snippetd/snippetd/klaviyo"
	"github.com/snippetd/snippetd/orders"
)

// BackfillOptions are the flags of `snippetd backfill`.
type BackfillOptions struct {
	// Orders is the file of historical orders ("-" for standard input).
	Orders string
	// Format is auto, jsonl, json or csv.
	Format string
	// DryRun validates and prints the summary without sending.
	DryRun bool
	// BatchSize is the most events per bulk request (≤ 1,000).
	BatchSize int
	// Concurrency is the number of requests in flight.
	Concurrency int
	// Sender replaces the Klaviyo client (tests); nil builds one from cfg.
	Sender klaviyo.Sender
}

// Backfill runs `snippetd backfill`: it reads the orders, opens the
// database (progress is kept there, so a re-run resumes), builds the
// Klaviyo client from cfg, and sends. Progress goes to progress (a bar
// when terminal), the summary to out. It returns an error when orders
// failed or the run stopped, so scripts see a non-zero exit.
func Backfill(ctx context.Context, cfg config.Config, o BackfillOptions, stdin io.Reader, out, progress io.Writer, terminal bool, logger *slog.Logger) (orders.Summary, error) {
	if o.Orders == "" {
		return orders.Summary{}, errors.New("backfill: --orders FILE is required (- for standard input)")
	}
	in := stdin
	if o.Orders != "-" {
		f, err := os.Open(o.Orders)
		if err != nil {
			return orders.Summary{}, fmt.Errorf("backfill: %w", err)
		}
		defer f.Close()
		in = f
	}
	inputs, err := orders.ReadOrders(in, o.Format)
	if err != nil {
		return orders.Summary{}, fmt.Errorf("backfill: read %s: %w", o.Orders, err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return orders.Summary{}, fmt.Errorf("data dir: %w", err)
	}
	d, err := db.Open(ctx, cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return orders.Summary{}, fmt.Errorf("database: %w", err)
	}
	defer d.Close()
	st, err := orders.OpenStore(ctx, d)
	if err != nil {
		return orders.Summary{}, fmt.Errorf("orders store: %w", err)
	}
	sender := o.Sender
	if sender == nil && !o.DryRun {
		if cfg.PrivateKey == "" {
			return orders.Summary{}, errors.New("backfill: set SNIPPETD_PRIVATE_KEY (or SNIPPETD_PRIVATE_KEY_FILE) to send, or use --dry-run")
		}
		c, err := NewKlaviyoClient(cfg, logger)
		if err != nil {
			return orders.Summary{}, err
		}
		sender = c
	}
	bar := &orders.ProgressBar{W: progress, Terminal: terminal}
	b := &orders.Backfill{Sender: sender, Store: st, BatchSize: o.BatchSize, Concurrency: o.Concurrency, DryRun: o.DryRun}
	if !o.DryRun {
		b.OnProgress = bar.Update
		bar.Start(len(inputs))
	}
	sum, err := b.Run(ctx, inputs)
	if !o.DryRun {
		bar.Finish()
	}
	sum.Write(out)
	if err == nil && len(sum.Failures) > 0 {
		err = fmt.Errorf("backfill: %d orders failed (see above); fix them and run again: sent orders are skipped", len(sum.Failures))
	}
	return sum, err
}
