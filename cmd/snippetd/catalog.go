package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

const catalogUsage = `usage: snippetd catalog sync [--dry-run] [--delete]

Sends the catalog (SNIPPETD_CATALOG_FILE, or the products stored with
PUT/PATCH /v1/catalog/products) to Klaviyo with the Catalog API: bulk jobs
of at most 100 items at 75/s and 750/min, creating new items, updating
changed ones and unpublishing (--delete: deleting) items that left the
source. What Klaviyo accepted is remembered in the database, so a second
run with the same products sends nothing.

Requires SNIPPETD_CATALOG_MODE=api (Klaviyo fills a catalog from a custom
feed or the Catalog API, never both) and SNIPPETD_PRIVATE_KEY (not for
--dry-run). Every other setting comes from the SNIPPETD_* environment, as
for serve.

flags:
  --dry-run   print the plan, send nothing
  --delete    delete items that left the source instead of unpublishing them
`

// catalogCmd runs `snippetd catalog sync`.
func catalogCmd(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, catalogUsage)
		return nil
	}
	if args[0] != "sync" {
		return fmt.Errorf("unknown catalog command %q\n\n%s", args[0], catalogUsage)
	}
	fs := flag.NewFlagSet("snippetd catalog sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts catalog.SyncOptions
	fs.BoolVar(&opts.DryRun, "dry-run", false, "print the plan, send nothing")
	fs.BoolVar(&opts.Delete, "delete", false, "delete items that left the source instead of unpublishing them")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg, err := config.Load(nil, env, stderr)
	if err != nil {
		return err
	}
	if cfg.CatalogMode != catalog.ModeAPI {
		return catalog.ErrSyncInFeedMode
	}
	var client *klaviyo.Client
	if !opts.DryRun {
		if cfg.PrivateKey == "" {
			return errors.New("catalog sync needs Klaviyo's private key: set SNIPPETD_PRIVATE_KEY (or _FILE), or use --dry-run")
		}
		client, err = app.NewKlaviyoClient(cfg, nil)
		if err != nil {
			return err
		}
	}
	logger := cfg.NewLogger(stderr)
	d, err := db.Open(ctx, cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer d.Close()
	co := app.CatalogOptions(cfg, d, logger)
	co.Poll = 0 // one load is enough for one run
	if logger.Enabled(ctx, slog.LevelDebug) {
		slog.SetDefault(logger)
	}
	c, err := catalog.Open(ctx, co)
	if err != nil {
		return err
	}
	defer c.Close()
	opts.Out = stdout
	var api catalog.APIClient
	if client != nil {
		api = client
	}
	_, err = c.Sync(ctx, api, opts)
	return err
}
