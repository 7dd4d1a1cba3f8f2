package proxy

import (
	"context"
	"time"
)

// Prune deletes up to limit browser identities last written before
// before (the index on updated_at finds them) and returns how many. The
// server runs it continuously with the configured retention; OpenStore's
// start-up prune keeps nothing older than the browser cookie lives. A
// pruned browser that comes back is anonymous until it identifies again.
// Cached copies expire within cacheTTL.
func (s *Store) Prune(ctx context.Context, before time.Time, limit int) (int64, error) {
	res, err := s.db.Write.ExecContext(ctx, s.db.Rebind(`DELETE FROM proxy_browsers WHERE id IN
		(SELECT id FROM proxy_browsers WHERE updated_at < ? ORDER BY updated_at LIMIT ?)`), before.Unix(), limit)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
