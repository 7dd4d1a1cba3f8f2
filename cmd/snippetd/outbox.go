package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/outbox"
)

const outboxUsage = `usage: snippetd outbox <command> [flags]

commands:
  status         counts of events by state and the age of the oldest pending one, and
                 of consent jobs (subscriptions, unsubscriptions, profiles, erasures,
                 back in stock) by kind and state
  dead-letters   events Klaviyo rejected permanently, with its response
  replay         send dead letters again: --id N (repeatable, or comma-separated) or --all

flags (every command): -data-dir, -database-url (default from SNIPPETD_DATA_DIR,
SNIPPETD_DATABASE_URL as for serve), -json (machine-readable output)
`

// outboxCmd runs `snippetd outbox ...` on the database the server uses.
func outboxCmd(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, outboxUsage)
		return nil
	}
	cmd := args[0]
	// The server's configuration supplies the defaults, so the command
	// reads the same database as `snippetd serve` with the same env.
	cfg, err := config.Load(nil, env, stderr)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("snippetd outbox "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", cfg.DataDir, "directory of the embedded database (env SNIPPETD_DATA_DIR)")
	// The URL may carry a password: the flag's default stays empty so that
	// -h never prints it, and the environment's value is put in place.
	dbURL := fs.String("database-url", "", "PostgreSQL URL (env SNIPPETD_DATABASE_URL or SNIPPETD_DATABASE_URL_FILE)")
	*dbURL = cfg.DatabaseURL
	asJSON := fs.Bool("json", false, "print JSON")
	var ids idList
	all := false
	limit := 0
	switch cmd {
	case "replay":
		fs.Var(&ids, "id", "dead letter id to replay (repeatable, or comma-separated)")
		fs.BoolVar(&all, "all", false, "replay every dead letter")
	case "dead-letters":
		fs.IntVar(&limit, "limit", 0, "list at most this many (0: all)")
	case "status":
	default:
		return fmt.Errorf("unknown outbox command %q\n\n%s", cmd, outboxUsage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cmd == "replay" && all == (len(ids) > 0) {
		return fmt.Errorf("replay: give --id N (one or more) or --all")
	}
	if *dbURL == "" {
		if _, err := os.Stat(*dataDir); err != nil {
			return fmt.Errorf("data dir %s: %w (is -data-dir / SNIPPETD_DATA_DIR the server's?)", *dataDir, err)
		}
	}
	d, err := db.Open(ctx, *dataDir, *dbURL)
	if err != nil {
		return err
	}
	defer d.Close()
	out := func(v any) error {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	switch cmd {
	case "status":
		s, err := outbox.Counts(ctx, d)
		if err != nil {
			return err
		}
		ds, err := outbox.Deliverers(ctx, d)
		if err != nil {
			return err
		}
		jobs, err := outbox.JobCountsByKind(ctx, d)
		if err != nil {
			return err
		}
		if *asJSON {
			v := map[string]any{"pending": s.Pending, "delivered": s.Delivered, "dead": s.Dead, "oldest_pending_age_seconds": s.OldestPendingAge.Seconds()}
			if len(ds) > 0 { // who delivers, and whether it is paused
				v["deliverers"] = ds
			}
			if len(jobs) > 0 { // consent jobs, by kind
				js := map[string]map[string]int64{}
				for k, c := range jobs {
					js[k] = map[string]int64{"pending": c.Pending, "delivered": c.Delivered, "dead": c.Dead}
				}
				v["jobs"] = js
			}
			return out(v)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "pending\t%d\n", s.Pending)
		fmt.Fprintf(tw, "delivered\t%d\n", s.Delivered)
		fmt.Fprintf(tw, "dead\t%d\n", s.Dead)
		age := "-"
		if s.Pending > 0 {
			age = s.OldestPendingAge.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "oldest pending age\t%s\n", age)
		for _, k := range outbox.JobKinds {
			if c, ok := jobs[k]; ok {
				fmt.Fprintf(tw, "%s jobs\tpending %d, delivered %d, dead %d\n", k, c.Pending, c.Delivered, c.Dead)
			}
		}
		if len(ds) == 0 {
			fmt.Fprintf(tw, "delivered by\tnobody: no snippetd serve delivers this database now\n")
		}
		for _, x := range ds {
			fmt.Fprintf(tw, "delivered by\t%s, since %s\n", x, x.Since.Format(time.RFC3339))
			if x.LocalSink() {
				fmt.Fprintf(tw, "\tnothing it delivers reaches Klaviyo\n")
			}
			if x.Paused != "" {
				fmt.Fprintf(tw, "PAUSED\t%s\n", x.Paused)
			}
		}
		return tw.Flush()
	case "dead-letters":
		dl, err := outbox.DeadLetters(ctx, d, limit)
		if err != nil {
			return err
		}
		if *asJSON {
			if dl == nil {
				dl = []outbox.DeadLetter{}
			}
			return out(dl)
		}
		if len(dl) == 0 {
			fmt.Fprintln(stdout, "no dead letters")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUNIQUE_ID\tMETRIC\tPROFILE\tSOURCE\tFAILED\tSTATUS\tRESPONSE")
		for _, l := range dl {
			resp := strings.Join(strings.Fields(l.Response), " ")
			if len(resp) > 120 {
				resp = resp[:120] + "…"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", l.ID, l.UniqueID, l.Metric, l.Profile, l.Source, l.Failed.Format(time.RFC3339), l.Status, resp)
		}
		return tw.Flush()
	default: // replay
		n, err := outbox.Replay(ctx, d, ids, all)
		if err != nil {
			return err
		}
		if *asJSON {
			return out(map[string]int64{"requeued": n})
		}
		fmt.Fprintf(stdout, "requeued %d dead letter(s); the running server delivers them\n", n)
		if !all && n < int64(len(ids)) {
			return fmt.Errorf("%d of the %d ids were not dead letters", int64(len(ids))-n, len(ids))
		}
		return nil
	}
}

// idList is a repeatable, comma-separated --id flag.
type idList []int64

func (l *idList) String() string { return fmt.Sprint([]int64(*l)) }

func (l *idList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not an event id", f)
		}
		*l = append(*l, n)
	}
	return nil
}
