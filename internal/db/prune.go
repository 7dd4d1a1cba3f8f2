package db

import (
	"context"
	"log/slog"
	"time"
)

// PruneBatch is how many rows a PruneTask deletes per transaction: on
// SQLite every writer shares one connection, so a prune must take turns
// with the requests rather than hold the write lock for a large delete.
const PruneBatch = 500

// PruneTask deletes at most limit rows of one table that its retention
// no longer keeps and returns how many it deleted.
type PruneTask struct {
	Name string
	Run  func(ctx context.Context, limit int) (int64, error)
}

// Prune runs every task until ctx ends: at once, then every interval, each
// in batches of PruneBatch with pause between batches, until a batch
// deletes fewer than PruneBatch rows. A failing task is logged and tried
// again on the next round. It returns when ctx ends.
func Prune(ctx context.Context, logger *slog.Logger, interval, pause time.Duration, tasks ...PruneTask) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, task := range tasks {
			total, err := pruneTask(ctx, task, pause)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				logger.Warn("prune failed; will retry", "table", task.Name, "deleted", total, "err", err)
			} else if total > 0 {
				logger.Info("pruned rows past retention", "table", task.Name, "deleted", total)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func pruneTask(ctx context.Context, task PruneTask, pause time.Duration) (int64, error) {
	var total int64
	for {
		n, err := task.Run(ctx, PruneBatch)
		total += n
		if err != nil || n < PruneBatch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pause):
		}
	}
}
