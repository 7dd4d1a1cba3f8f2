package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
)

// backfill parses the flags of `snippetd backfill` and runs app.Backfill;
// every other setting comes from the SNIPPETD_* environment.
func backfill(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var o app.BackfillOptions
	fs := flag.NewFlagSet("snippetd backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Orders, "orders", "", "file of historical orders: JSON lines, a JSON array or CSV (- for standard input)")
	fs.StringVar(&o.Format, "format", "auto", "auto, jsonl, json or csv")
	fs.BoolVar(&o.DryRun, "dry-run", false, "validate and print the summary without storing anything")
	fs.BoolVar(&o.NoWait, "no-wait", false, "return once the events are in the outbox; snippetd serve delivers them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(nil, os.Getenv, stderr)
	if err != nil {
		return err
	}
	terminal := false
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			terminal = true
		}
	}
	_, err = app.Backfill(ctx, cfg, o, stdin, stdout, stderr, terminal, cfg.NewLogger(stderr))
	return err
}
