package outbox

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// TestSourceProgress follows one source's events after a mark: other
// sources and events before the mark are not counted, a pending event of
// the source from before the mark is, and dead letters keep the response.
func TestSourceProgress(t *testing.T) {
	ctx := context.Background()
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			mk := func(id string) klaviyo.Event {
				e := ev("p"+id, 1)
				e.UniqueID = id
				return e
			}
			// Delivered before the mark: not this run's.
			if err := o.Enqueue(ctx, []klaviyo.Event{mk("old")}, "backfill"); err != nil {
				t.Fatal(err)
			}
			s := &fakeSender{fn: func(events []klaviyo.Event, bulk bool) klaviyo.Outcome {
				for _, e := range events {
					if e.UniqueID == "bad" {
						return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 400, Detail: `{"errors":[{"detail":"nope"}]}`}
					}
				}
				return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
			}}
			cancel := run(t, o, s)
			waitFor(t, "old delivered", func() bool { return status(t, o).Pending == 0 })
			cancel()
			// Left pending by an "earlier run", then the mark.
			if err := o.Enqueue(ctx, []klaviyo.Event{mk("left")}, "backfill"); err != nil {
				t.Fatal(err)
			}
			mark, err := Mark(ctx, d, "backfill")
			if err != nil {
				t.Fatal(err)
			}
			var evs []klaviyo.Event
			for n := range 5 {
				evs = append(evs, mk(fmt.Sprint("n", n)))
			}
			evs = append(evs, mk("bad"))
			if err := o.Enqueue(ctx, evs, "backfill"); err != nil {
				t.Fatal(err)
			}
			if err := o.Enqueue(ctx, []klaviyo.Event{mk("other")}, "orders"); err != nil {
				t.Fatal(err)
			}
			c, err := CountSince(ctx, d, "backfill", mark)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(SourceCounts{Pending: 7}, c); diff != "" {
				t.Errorf("before delivery (-want +got):\n%s", diff)
			}
			run(t, o, s)
			waitFor(t, "delivery", func() bool { return status(t, o).Pending == 0 })
			c, err = CountSince(ctx, d, "backfill", mark)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(SourceCounts{Delivered: 6, Dead: 1}, c); diff != "" || c.Done() != 7 {
				t.Errorf("after delivery (-want +got):\n%s", diff)
			}
			dl, err := DeadLettersSince(ctx, d, "backfill", mark, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(dl) != 1 || dl[0].UniqueID != "bad" || dl[0].Status != 400 || dl[0].Response != `{"errors":[{"detail":"nope"}]}` {
				t.Errorf("dead letters %+v", dl)
			}
		})
	}
}
