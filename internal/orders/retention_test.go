package orders_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/shop"
)

// TestPrune: orders whose last event is past retention go, with their
// actions and backfill records, in batches; an old order with a recent
// action stays.
func TestPrune(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := orders.OpenStore(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
			put := func(id string, at time.Time) {
				if _, err := st.PutOrder(ctx, shop.Order{ID: id}, at); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 7 {
				put(fmt.Sprintf("old-%d", i), old)
				if _, err := st.PutAction(ctx, fmt.Sprintf("old-%d", i), orders.ActionRecord{Kind: orders.Fulfilled, Hash: "h", UniqueID: fmt.Sprintf("old-%d", i)}, old); err != nil {
					t.Fatal(err)
				}
			}
			put("old-active", old)
			if _, err := st.PutAction(ctx, "old-active", orders.ActionRecord{Kind: orders.Fulfilled, Hash: "h", UniqueID: "old-active"}, recent); err != nil {
				t.Fatal(err)
			}
			put("new", recent)
			if err := st.MarkBackfilled(ctx, []string{"b-old"}, []string{"h"}, old); err != nil {
				t.Fatal(err)
			}
			if err := st.MarkBackfilled(ctx, []string{"b-new"}, []string{"h"}, recent); err != nil {
				t.Fatal(err)
			}
			cutoff := now.Add(-90 * 24 * time.Hour)
			var total int64
			for round := 0; ; round++ {
				n, err := st.Prune(ctx, cutoff, 4)
				if err != nil {
					t.Fatal(err)
				}
				total += n
				if n < 4 {
					break
				}
				if round > 10 {
					t.Fatal("prune does not finish")
				}
			}
			if total != 7*2+1 {
				t.Errorf("deleted %d rows, want 15 (7 orders, 7 actions, 1 backfill record)", total)
			}
			for id, want := range map[string]bool{"old-0": false, "old-6": false, "old-active": true, "new": true} {
				if _, ok, err := st.Order(ctx, id); err != nil || ok != want {
					t.Errorf("order %s kept = %v (%v), want %v", id, ok, err, want)
				}
			}
			done, err := st.Backfilled(ctx, []string{"b-old", "b-new"})
			if err != nil || done["b-old"] != "" || done["b-new"] == "" {
				t.Errorf("backfill records after prune: %v %v, want only b-new", done, err)
			}
			// The pruned order's action is gone too: the same action is new again.
			if res, err := st.PutAction(ctx, "old-0", orders.ActionRecord{Kind: orders.Fulfilled, Hash: "other", UniqueID: "old-0"}, now); err != nil || res != orders.New {
				t.Errorf("action of a pruned order: %v %v, want New", res, err)
			}
		})
	}
}
