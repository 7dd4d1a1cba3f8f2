package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
)

// rejectBad delivers every event except those whose unique_id starts with
// "bad-", which Klaviyo rejects permanently.
type rejectBad struct{}

func (rejectBad) CreateEvent(ctx context.Context, e klaviyo.Encoded) klaviyo.Outcome {
	return rejectBad{}.BulkCreateEvents(ctx, []klaviyo.Encoded{e})
}

func (rejectBad) BulkCreateEvents(ctx context.Context, events []klaviyo.Encoded) klaviyo.Outcome {
	for _, e := range events {
		if strings.HasPrefix(e.UniqueID, "bad-") {
			return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 400, Detail: `{"errors":[{"detail":"metric name too long"}]}`}
		}
	}
	return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
}

func TestOutboxCommands(t *testing.T) {
	ctx := context.Background()
	targets := map[string]map[string]string{"sqlite": {"SNIPPETD_DATA_DIR": t.TempDir()}}
	if url := dbtest.PostgresURL(t, "outbox_cli"); url != "" {
		targets["postgres"] = map[string]string{"SNIPPETD_DATABASE_URL": url, "SNIPPETD_DATA_DIR": t.TempDir()}
	}
	for name, env := range targets {
		t.Run(name, func(t *testing.T) {
			getenv := func(k string) string { return env[k] }
			cli := func(args ...string) (string, error) {
				var out, errb bytes.Buffer
				err := outboxCmd(ctx, args, getenv, &out, &errb)
				if err != nil {
					return out.String() + errb.String(), err
				}
				return out.String(), nil
			}
			// Seed: 3 good events, 2 bad ones, delivered by a loop.
			d, err := db.Open(ctx, env["SNIPPETD_DATA_DIR"], env["SNIPPETD_DATABASE_URL"])
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ob, err := outbox.Open(ctx, d, outbox.Options{PollInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close(context.Background())
			var events []klaviyo.Event
			for i := range 5 {
				e := klaviyo.Event{Metric: "Placed Order", Profile: klaviyo.Profile{Email: fmt.Sprintf("p%d@example.com", i)}, Properties: json.RawMessage(`{}`)}
				if i >= 3 {
					e.UniqueID = fmt.Sprint("bad-", i)
				}
				events = append(events, e)
			}
			if err := ob.Enqueue(ctx, events, "cli-test"); err != nil {
				t.Fatal(err)
			}
			got, err := cli("status")
			if err != nil || !strings.Contains(got, "pending") || !regexpLine(got, "pending", "5") {
				t.Fatalf("status before delivery: %v\n%s", err, got)
			}
			rctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { ob.Run(rctx, rejectBad{}); close(done) }()
			for deadline := time.Now().Add(30 * time.Second); ; {
				s, _ := ob.Status(ctx)
				if s.Pending == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("delivery did not finish")
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			<-done

			got, err = cli("status", "-json")
			if err != nil {
				t.Fatal(err)
			}
			var st map[string]float64
			json.Unmarshal([]byte(got), &st)
			if diff := cmp.Diff(map[string]float64{"pending": 0, "delivered": 3, "dead": 2, "oldest_pending_age_seconds": 0}, st); diff != "" {
				t.Errorf("status -json (-want +got):\n%s", diff)
			}

			got, err = cli("dead-letters", "-json")
			if err != nil {
				t.Fatal(err)
			}
			var dl []outbox.DeadLetter
			if err := json.Unmarshal([]byte(got), &dl); err != nil {
				t.Fatalf("%v: %s", err, got)
			}
			var ids []string
			for _, l := range dl {
				ids = append(ids, l.UniqueID+" "+fmt.Sprint(l.Status)+" "+l.Response)
			}
			want := []string{`bad-3 400 {"errors":[{"detail":"metric name too long"}]}`, `bad-4 400 {"errors":[{"detail":"metric name too long"}]}`}
			if diff := cmp.Diff(want, ids); diff != "" {
				t.Errorf("dead-letters (-want +got):\n%s", diff)
			}
			if got, err := cli("dead-letters"); err != nil || !strings.Contains(got, "bad-3") || !strings.Contains(got, "metric name too long") {
				t.Errorf("dead-letters table: %v\n%s", err, got)
			}

			for _, bad := range [][]string{{"replay"}, {"replay", "--all", "--id", "1"}, {"replay", "--id", "x"}, {"nope"}} {
				if got, err := cli(bad...); err == nil {
					t.Errorf("%q succeeded: %s", bad, got)
				}
			}
			if got, err := cli("replay", "--id", fmt.Sprint(dl[0].ID)); err != nil || !strings.Contains(got, "requeued 1") {
				t.Errorf("replay --id: %v\n%s", err, got)
			}
			if got, err := cli("status"); err != nil || !regexpLine(got, "pending", "1") || !regexpLine(got, "dead", "1") {
				t.Errorf("status after replay: %v\n%s", err, got)
			}
			if got, err := cli("replay", "--all"); err != nil || !strings.Contains(got, "requeued 1") {
				t.Errorf("replay --all: %v\n%s", err, got)
			}
			if got, _ := cli("status"); !regexpLine(got, "pending", "2") || !regexpLine(got, "dead", "0") {
				t.Errorf("status after replay --all:\n%s", got)
			}
		})
	}
}

// regexpLine reports whether out has a line "<label>   <value>".
func regexpLine(out, label, value string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == label && f[1] == value {
			return true
		}
	}
	return false
}
