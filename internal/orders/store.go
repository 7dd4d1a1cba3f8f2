package orders

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/shop"
)

// migrations are the orders component's schema steps (append only).
var migrations = []string{
	`CREATE TABLE orders (
		id TEXT PRIMARY KEY,
		body TEXT NOT NULL,
		hash TEXT NOT NULL,
		created_at BIGINT NOT NULL)`,
	`CREATE TABLE order_actions (
		order_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		hash TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (order_id, kind))`,
	`CREATE TABLE order_backfill (
		order_id TEXT PRIMARY KEY,
		hash TEXT NOT NULL,
		sent_at BIGINT NOT NULL)`,
}

// Store keeps orders (so that a later action can name one), the actions
// already accepted, and backfill progress, in the shared database.
type Store struct {
	db *db.DB
}

// OpenStore migrates the orders tables in d and returns the store.
func OpenStore(ctx context.Context, d *db.DB) (*Store, error) {
	if err := d.Migrate(ctx, "orders", migrations); err != nil {
		return nil, err
	}
	if err := migrateRetention(ctx, d); err != nil {
		return nil, err
	}
	return &Store{db: d}, nil
}

// Hash is the content hash used to tell a replay of the same request from
// a conflicting one.
func Hash(v any) string {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Result tells what a Put found.
type Result int

const (
	// New: stored for the first time.
	New Result = iota
	// Same: already stored with identical content (a replay).
	Same
	// Conflict: already stored with different content.
	Conflict
)

// PutOrder stores o unless an order with its id exists, and reports which.
func (s *Store) PutOrder(ctx context.Context, o shop.Order, now time.Time) (Result, error) {
	body, err := json.Marshal(o)
	if err != nil {
		return 0, err
	}
	return s.put(ctx, `INSERT INTO orders (id, body, hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		`SELECT hash FROM orders WHERE id = ?`, []any{o.ID, string(body), Hash(o), now.UnixMilli()}, []any{o.ID}, Hash(o))
}

// PutAction records that action kind of order id was accepted with the
// given content hash. Klaviyo keeps only the first event per (profile,
// metric, unique_id) and an action's unique_id is the order id, so a
// second, different action of the same kind would be silently dropped
// there: it is a Conflict here.
func (s *Store) PutAction(ctx context.Context, id string, k Kind, hash string, now time.Time) (Result, error) {
	return s.put(ctx, `INSERT INTO order_actions (order_id, kind, hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (order_id, kind) DO NOTHING`,
		`SELECT hash FROM order_actions WHERE order_id = ? AND kind = ?`, []any{id, string(k), hash, now.UnixMilli()}, []any{id, string(k)}, hash)
}

func (s *Store) put(ctx context.Context, insert, sel string, args, keyArgs []any, hash string) (Result, error) {
	res, err := s.db.Write.ExecContext(ctx, s.db.Rebind(insert), args...)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return New, nil
	}
	var have string
	if err := s.db.QueryRowContext(ctx, s.db.Rebind(sel), keyArgs...).Scan(&have); err != nil {
		return 0, err
	}
	if have == hash {
		return Same, nil
	}
	return Conflict, nil
}

// ForgetAction removes an action record, so that a request whose events
// could not be published can be sent again with different content.
func (s *Store) ForgetAction(ctx context.Context, id string, k Kind) error {
	_, err := s.db.Write.ExecContext(ctx, s.db.Rebind(`DELETE FROM order_actions WHERE order_id = ? AND kind = ?`), id, string(k))
	return err
}

// Order returns the stored order with id, or ok=false.
func (s *Store) Order(ctx context.Context, id string) (o shop.Order, ok bool, err error) {
	var body string
	err = s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT body FROM orders WHERE id = ?`), id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return o, false, nil
	} else if err != nil {
		return o, false, err
	}
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		return o, false, fmt.Errorf("orders: stored order %s: %w", id, err)
	}
	return o, true, nil
}

// Backfilled returns, of ids, those a backfill already sent, each with the
// content hash it was sent with ("" when none was recorded). A changed
// order is not sent again (Klaviyo would drop it: same unique_ids); the
// caller reports it as a conflict.
func (s *Store) Backfilled(ctx context.Context, ids []string) (map[string]string, error) {
	done := map[string]string{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		q := `SELECT order_id, hash FROM order_backfill WHERE order_id IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, hash string
			if err := rows.Scan(&id, &hash); err != nil {
				rows.Close()
				return nil, err
			}
			done[id] = hash
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return done, nil
}

// MarkBackfilled records that the orders ids (with content hashes) were
// accepted by Klaviyo, in one transaction.
func (s *Store) MarkBackfilled(ctx context.Context, ids, hashes []string, now time.Time) error {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := s.db.Rebind(`INSERT INTO order_backfill (order_id, hash, sent_at) VALUES (?, ?, ?)
		ON CONFLICT (order_id) DO UPDATE SET hash = excluded.hash, sent_at = excluded.sent_at`)
	for i, id := range ids {
		if _, err := tx.ExecContext(ctx, q, id, hashes[i], now.UnixMilli()); err != nil {
			return err
		}
	}
	return tx.Commit()
}
