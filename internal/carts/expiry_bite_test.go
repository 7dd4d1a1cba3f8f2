package carts

import (
	"context"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
)

// TestRestoreExpiresAfterTTL: a link restores up to and including the
// instant its TTL ends and answers Expired one second later, although
// its version is still stored (the token alone says it has expired).
func TestRestoreExpiresAfterTTL(t *testing.T) {
	d := dbtest.SQLite(t)
	clk := &clock{t: time.Unix(1_790_000_000, 0)}
	s := openService(t, d, Always, clk)
	ctx := context.Background()
	c := cart("c1", "kettle", 1)
	s.LinkNow(ctx, &c)
	tok := tokenOf(t, c.CheckoutURL)

	clk.Add(s.opts.TTL)
	if _, out, err := s.Restore(ctx, tok); err != nil || out != Restored {
		t.Fatalf("at exactly the TTL: %v, %v; want restored", out, err)
	}
	clk.Add(time.Second)
	if _, out, err := s.Restore(ctx, tok); err != nil || out != Expired {
		t.Fatalf("one second past the TTL: %v, %v; want expired", out, err)
	}
	var rows int
	if err := d.QueryRow(`SELECT COUNT(*) FROM cart_versions`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d versions stored (%v), want the one still there", rows, err)
	}
}
