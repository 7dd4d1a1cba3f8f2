package orders_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/orders"
)

// TestActionsKeptBeforeIDsStillCount: an action accepted under the schema
// without action ids keeps its unique_id (the order id) after the
// migration, so a replay of it is still a replay and a further one needs
// an id.
func TestActionsKeptBeforeIDsStillCount(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			old := []string{
				`CREATE TABLE orders (id TEXT PRIMARY KEY, body TEXT NOT NULL, hash TEXT NOT NULL, created_at BIGINT NOT NULL)`,
				`CREATE TABLE order_actions (order_id TEXT NOT NULL, kind TEXT NOT NULL, hash TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (order_id, kind))`,
				`CREATE TABLE order_backfill (order_id TEXT PRIMARY KEY, hash TEXT NOT NULL, sent_at BIGINT NOT NULL)`,
			}
			if err := d.Migrate(ctx, "orders", old); err != nil {
				t.Fatal(err)
			}
			o := sampleOrder(t)
			body, _ := json.Marshal(o)
			ship := orders.Action{Time: now, Tracking: &orders.Tracking{Number: "1Z"}}
			for q, args := range map[string][]any{
				`INSERT INTO orders (id, body, hash, created_at) VALUES (?, ?, ?, 1)`:                        {o.ID, string(body), orders.Hash(o)},
				`INSERT INTO order_actions (order_id, kind, hash, created_at) VALUES (?, 'fulfilled', ?, 1)`: {o.ID, orders.Hash(ship)},
			} {
				if _, err := d.Write.ExecContext(ctx, d.Rebind(q), args...); err != nil {
					t.Fatal(err)
				}
			}
			st, err := orders.OpenStore(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			svc := &orders.Service{Store: st, Publisher: &recorder{}, Now: func() time.Time { return now }}
			if ids, err := svc.Act(ctx, o.ID, orders.Fulfilled, ship); err != nil || ids[0] != o.ID {
				t.Errorf("replay of the old fulfilment: %v %v", ids, err)
			}
			other := orders.Action{Tracking: &orders.Tracking{Number: "2Z"}}
			if _, err := svc.Act(ctx, o.ID, orders.Fulfilled, other); apperr.ErrorCode(err) != apperr.ECONFLICT {
				t.Errorf("second fulfilment without id: %v, want 409", err)
			}
			other.ID = "sh_2"
			if ids, err := svc.Act(ctx, o.ID, orders.Fulfilled, other); err != nil || ids[0] != orders.ActionUniqueID(o.ID, orders.Fulfilled, "sh_2") {
				t.Errorf("second fulfilment with id: %v %v", ids, err)
			}
			status, err := svc.Status(ctx, o.ID)
			if err != nil || len(status.Actions) != 2 || status.Actions[0].UniqueID != o.ID {
				t.Errorf("status %+v %v", status, err)
			}
		})
	}
}
