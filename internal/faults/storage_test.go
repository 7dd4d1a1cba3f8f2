package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/internal/outbox"
	"github.com/snippetd/snippetd/proxy"
	"github.com/snippetd/snippetd/shop"
)

// usedBytes is the space the database's tables and indexes take: on
// SQLite the pages in use (the WAL's included, as a reader sees them), on
// PostgreSQL the relations' total size (heap, TOAST and indexes).
func usedBytes(t *testing.T, d *db.DB, tables ...string) int64 {
	t.Helper()
	ctx := context.Background()
	if d.Dialect == db.SQLite {
		var pages, free, size int64
		d.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages)
		d.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free)
		d.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size)
		return (pages - free) * size
	}
	var total int64
	for _, tb := range tables {
		var n int64
		if err := d.QueryRowContext(ctx, `SELECT pg_total_relation_size($1)`, tb).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// TestStorageBytesPerEvent measures what each table that grows with
// traffic costs per event (docs/ARCHITECTURE.md and docs/reliability.md
// quote it) and checks that its retention prune empties it.
func TestStorageBytesPerEvent(t *testing.T) {
	const n = 500
	order := func(i int) shop.Order {
		var o shop.Order
		if err := json.Unmarshal([]byte(orderBody(fmt.Sprintf("ORD-%06d", i))), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ost, err := orders.OpenStore(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			pst, err := proxy.OpenStore(ctx, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer pst.Close()
			ob, err := outbox.Open(ctx, d, outbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close(ctx)
			now := time.Now()
			measure := func(what string, tables []string, fill func(i int)) int64 {
				before := usedBytes(t, d, tables...)
				for i := range n {
					fill(i)
				}
				per := (usedBytes(t, d, tables...) - before) / n
				t.Logf("%s %s: %d bytes per order (%d orders)", name, what, per, n)
				if per <= 0 || per > 8192 {
					t.Errorf("%s: %d bytes per order is not plausible", what, per)
				}
				return per
			}
			measure("orders (order with 1 line + its Fulfilled action)", []string{"orders", "order_action_log"}, func(i int) {
				o := order(i)
				if _, err := ost.PutOrder(ctx, o, now); err != nil {
					t.Fatal(err)
				}
				if _, err := ost.PutAction(ctx, o.ID, orders.ActionRecord{Kind: orders.Fulfilled, Hash: orders.Hash(o), UniqueID: o.ID}, now); err != nil {
					t.Fatal(err)
				}
			})
			measure("outbox_events (Placed Order + Ordered Product)", []string{"outbox_events"}, func(i int) {
				if err := ob.Enqueue(ctx, orders.PlacedEvents(order(i), false), "orders"); err != nil {
					t.Fatal(err)
				}
			})
			measure("proxy_browsers (identified browser)", []string{"proxy_browsers"}, func(i int) {
				idn := proxy.Identity{Kx: fmt.Sprintf("kx-%06d", i)}
				idn.Email = fmt.Sprintf("shopper%06d@example.com", i)
				if err := pst.Put(ctx, fmt.Sprintf("browser-id-%016d", i), idn, now); err != nil {
					t.Fatal(err)
				}
			})
			// Retention: everything is older than a cutoff in the future.
			later := now.Add(time.Hour)
			for what, prune := range map[string]func(context.Context, time.Time, int) (int64, error){"orders": ost.Prune, "proxy_browsers": pst.Prune} {
				var total int64
				for {
					k, err := prune(ctx, later, db.PruneBatch)
					if err != nil {
						t.Fatal(err)
					}
					if total += k; k < db.PruneBatch {
						break
					}
				}
				var left int
				d.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+what).Scan(&left)
				if left != 0 {
					t.Errorf("%s: %d rows left after pruning everything (deleted %d)", what, left, total)
				}
			}
		})
	}
}
