// Command snippetd serves Klaviyo onsite snippets, server-side events and
// the catalog feed for storefronts without a pre-built Klaviyo integration.
//
//	snippetd serve      run the server
//	snippetd render     render one snippet from JSON (stdin or --in)
//	snippetd outbox     status, dead-letters, replay of the event outbox
//	snippetd healthcheck  exit 0 when the server on SNIPPETD_ADDR answers /healthz
//	snippetd version    print the version (also --version, -v)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: snippetd <command> [flags]

commands:
  serve      run the HTTP server (flags: snippetd serve -h)
  render     render a snippet from JSON: snippetd render <snippet> [--in file.json] [--json] [--nonce N]
  outbox     inspect the event outbox: snippetd outbox status|dead-letters|replay (snippetd outbox -h)
  catalog    send the catalog with Klaviyo's Catalog API: snippetd catalog sync [--dry-run] [--delete]
  backfill   queue historical orders in the outbox and deliver them: snippetd backfill --orders FILE [--dry-run] [--no-wait] (flags: snippetd backfill -h)
  healthcheck  exit 0 when the server at SNIPPETD_ADDR answers GET /healthz (for container health checks): snippetd healthcheck [--url URL]
  check      audit storefront pages' Klaviyo integration in headless Chromium: snippetd check [--steps FILE] [--json] [--junit FILE] URL... (snippetd check -h)
  version    print the version (also snippetd --version, snippetd -v)
`

// run dispatches a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "render":
		err = renderCmd(ctx, args[1:], stdin, stdout, stderr)
	case "outbox":
		err = outboxCmd(ctx, args[1:], os.Getenv, stdout, stderr)
	case "catalog":
		err = catalogCmd(ctx, args[1:], os.Getenv, stdout, stderr)
	case "backfill":
		err = backfill(ctx, args[1:], stdin, stdout, stderr)
	case "healthcheck":
		err = healthcheck(ctx, args[1:], os.Getenv, stdout, stderr)
	case "check":
		err = checkCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version", "-v":
		fmt.Fprintln(stdout, "snippetd", version.String())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "snippetd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "snippetd:", err)
		return 1
	}
	return 0
}

// serveGCPercent is the GOGC of `snippetd serve` unless GOGC is set. The
// server's live heap is small (tens of MB) while every request allocates
// ~12 KB, so Go's default of 100 collects dozens of times a second under
// load and the collections stall the one goroutine every write waits for
// (the outbox's group commit). 400 lets the heap grow to five times the
// live data between collections: in `go test ./proxy -bench
// EventsReturningBrowser` it roughly halved the time per request.
const serveGCPercent = 400

// setGCPercent applies serveGCPercent when the operator did not set GOGC
// (the Go runtime honours GOGC and GOMEMLIMIT as usual).
func setGCPercent(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}

// serve runs the server until ctx is cancelled (SIGINT/SIGTERM), then
// shuts down gracefully.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	// A misspelt variable is often why a setting is missing: its warning
	// comes out even when the configuration is refused.
	unknown := config.UnknownEnv(os.Environ())
	cfg, err := config.Load(args, os.Getenv, stderr)
	if err != nil {
		for _, w := range unknown {
			fmt.Fprintln(stderr, "snippetd: warning:", w)
		}
		return err
	}
	logger := cfg.NewLogger(stderr)
	for _, w := range unknown {
		logger.Warn(w)
	}
	setGCPercent(os.Getenv)
	m := app.NewMain(cfg, logger)
	if err := m.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down", "grace", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout+time.Second)
	defer cancel()
	return m.Close(sctx)
}
