package app

import (
	"context"
	"time"

	"github.com/snippetd/snippetd/internal/db"
)

// pruneInterval spaces the rounds of the retention pruner; each round
// deletes everything past retention, db.PruneBatch rows per transaction
// with prunePause between them, so requests keep their turns at the
// database (on SQLite, its one write connection).
const (
	pruneInterval = time.Minute
	prunePause    = 50 * time.Millisecond
)

// prune registers a table's retention task; startPruning runs them.
func (m *Main) prune(name string, retention time.Duration, run func(ctx context.Context, before time.Time, limit int) (int64, error)) {
	m.pruneTasks = append(m.pruneTasks, db.PruneTask{Name: name, Run: func(ctx context.Context, limit int) (int64, error) {
		return run(ctx, time.Now().Add(-retention), limit)
	}})
}

// startPruning runs the registered retention tasks until Close.
func (m *Main) startPruning() {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); db.Prune(ctx, m.Logger, pruneInterval, prunePause, m.pruneTasks...) }()
	m.closers = append(m.closers, func(context.Context) error { stop(); <-done; return nil })
}
