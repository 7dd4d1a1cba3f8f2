package db_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db"
)

// TestPruneBatches: a round runs a task in batches until one comes back
// short, then waits for the next round; a failing task does not stop the
// others; cancelling ends Prune.
func TestPruneBatches(t *testing.T) {
	left := int64(2*db.PruneBatch + 7)
	var calls, failing atomic.Int64
	rounds := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.Prune(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), 20*time.Millisecond, time.Millisecond,
			db.PruneTask{Name: "broken", Run: func(context.Context, int) (int64, error) {
				failing.Add(1)
				return 0, errors.New("disk on fire")
			}},
			db.PruneTask{Name: "t", Run: func(_ context.Context, limit int) (int64, error) {
				calls.Add(1)
				n := min(int64(limit), left)
				left -= n
				if n < int64(limit) {
					rounds <- struct{}{}
				}
				return n, nil
			}})
	}()
	<-rounds
	if c := calls.Load(); c != 3 || left != 0 {
		t.Errorf("first round: %d batches, %d rows left; want 3 batches, none left", c, left)
	}
	<-rounds // a second round comes after the interval
	cancel()
	<-done
	if failing.Load() < 2 {
		t.Errorf("the failing task ran %d times, want once per round", failing.Load())
	}
}
