package outbox

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

func TestListAndGetFilterAndPage(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			o := openOutbox(t, d, testOptions())
			mk := func(metric string, p klaviyo.Profile, id string) klaviyo.Event {
				return klaviyo.Event{Metric: metric, Profile: p, Properties: json.RawMessage(`{"n":1}`), UniqueID: id}
			}
			a := klaviyo.Profile{Email: "a@example.com"}
			kx := klaviyo.Profile{Kx: "a@example.com"} // same value, other kind
			b := klaviyo.Profile{PhoneNumber: "+15555550100"}
			if err := o.Enqueue(ctx, []klaviyo.Event{mk("Placed Order", a, "1"), mk("Ordered Product", a, "2"), mk("Viewed Product", kx, "3")}, "orders"); err != nil {
				t.Fatal(err)
			}
			if err := o.Enqueue(ctx, []klaviyo.Event{mk("Viewed Product", b, "4")}, "proxy"); err != nil {
				t.Fatal(err)
			}
			s := &fakeSender{fn: func(events []klaviyo.Event, bulk bool) klaviyo.Outcome {
				if events[0].UniqueID == "2" {
					return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 400, Detail: `{"errors":[{"detail":"nope"}]}`}
				}
				return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
			}}
			run(t, o, s)
			waitFor(t, "delivery", func() bool { return status(t, o).Pending == 0 })

			ids := func(q Query) []string {
				t.Helper()
				rs, err := List(ctx, d, q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range rs {
					got = append(got, r.UniqueID)
				}
				return got
			}
			for _, c := range []struct {
				name string
				q    Query
				want []string
			}{
				{"all, newest first", Query{}, []string{"4", "3", "2", "1"}},
				{"metric", Query{Metric: "Viewed Product"}, []string{"4", "3"}},
				{"state dead", Query{State: StateDead}, []string{"2"}},
				{"state delivered", Query{State: StateDelivered}, []string{"4", "3", "1"}},
				{"source", Query{Source: "proxy"}, []string{"4"}},
				{"profile value of any kind", Query{Profile: "a@example.com"}, []string{"3", "2", "1"}},
				{"profile key", Query{Profile: "email:a@example.com"}, []string{"2", "1"}},
				{"profile phone", Query{Profile: "+15555550100"}, []string{"4"}},
				{"combined", Query{Profile: "a@example.com", State: StateDelivered, Metric: "Placed Order"}, []string{"1"}},
				{"limit", Query{Limit: 2}, []string{"4", "3"}},
				{"page", Query{Limit: 2, BeforeID: 3}, []string{"2", "1"}},
				{"no match", Query{Metric: "Refunded Order"}, nil},
			} {
				if diff := cmp.Diff(c.want, ids(c.q)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", c.name, diff)
				}
			}
			if _, err := List(ctx, d, Query{State: "lost"}); apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != "state" {
				t.Errorf("bad state: %v, want EINVALID naming state", err)
			}

			rs, _ := List(ctx, d, Query{State: StateDead})
			got, err := Get(ctx, d, rs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Metric != "Ordered Product" || got.Profile != "email:a@example.com" || got.Source != "orders" ||
				got.Attempts != 1 || got.LastStatus != 400 || got.LastResponse != `{"errors":[{"detail":"nope"}]}` {
				t.Errorf("Get = %+v", got)
			}
			var e klaviyo.Event
			if err := json.Unmarshal(got.Payload, &e); err != nil || e.UniqueID != "2" {
				t.Errorf("payload %s does not decode to the event: %v", got.Payload, err)
			}
			if _, err := Get(ctx, d, 999999); apperr.ErrorCode(err) != apperr.ENOTFOUND {
				t.Errorf("Get(missing) = %v, want ENOTFOUND", err)
			}
		})
	}
}
