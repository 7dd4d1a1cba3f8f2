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
	// Every accepted action, by its platform id ('' for an action sent
	// without one), with the unique_id and value its event went out with.
	`CREATE TABLE order_action_log (
		order_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		action_id TEXT NOT NULL,
		hash TEXT NOT NULL,
		unique_id TEXT NOT NULL,
		value TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (order_id, kind, action_id))`,
	`CREATE UNIQUE INDEX order_action_log_unique_id ON order_action_log (order_id, kind, unique_id)`,
	// Actions accepted before ids existed: unique_id was the order id;
	// their value was not kept ('' counts as 0).
	`INSERT INTO order_action_log (order_id, kind, action_id, hash, unique_id, value, created_at)
		SELECT order_id, kind, '', hash, order_id, '', created_at FROM order_actions`,
	`DROP TABLE order_actions`,
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

// ActionRecord is an accepted action of an order.
type ActionRecord struct {
	Kind     Kind
	ID       string // the platform's id; "" when sent without one
	Hash     string
	UniqueID string
	Value    shop.Money // unset for actions accepted before values were kept
}

// Actions returns the accepted actions of order id, oldest first.
func (s *Store) Actions(ctx context.Context, id string) ([]ActionRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT kind, action_id, hash, unique_id, value FROM order_action_log
		WHERE order_id = ? ORDER BY created_at, kind, action_id`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ActionRecord
	for rows.Next() {
		var r ActionRecord
		var kind, value string
		if err := rows.Scan(&kind, &r.ID, &r.Hash, &r.UniqueID, &value); err != nil {
			return nil, err
		}
		r.Kind = Kind(kind)
		if value != "" {
			if r.Value, err = shop.ParseMoney(value); err != nil {
				return nil, fmt.Errorf("orders: stored value of %s %s: %w", id, kind, err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PutAction records that action r of order id was accepted. Klaviyo keeps
// only the first event per (profile, metric, unique_id), so an action
// whose unique_id is already taken by another of its kind, or whose id is
// known with another hash, is a Conflict; the same id and hash is Same.
func (s *Store) PutAction(ctx context.Context, id string, r ActionRecord, now time.Time) (Result, error) {
	return s.put(ctx, `INSERT INTO order_action_log (order_id, kind, action_id, hash, unique_id, value, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		`SELECT hash FROM order_action_log WHERE order_id = ? AND kind = ? AND action_id = ?`,
		[]any{id, string(r.Kind), r.ID, r.Hash, r.UniqueID, r.Value.String(), now.UnixMilli()}, []any{id, string(r.Kind), r.ID}, r.Hash)
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
	err = s.db.QueryRowContext(ctx, s.db.Rebind(sel), keyArgs...).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		// Another key's row holds a unique value of this one.
		return Conflict, nil
	} else if err != nil {
		return 0, err
	}
	if have == hash {
		return Same, nil
	}
	return Conflict, nil
}

// ForgetAction removes an action record, so that a request whose events
// could not be published can be sent again with different content.
func (s *Store) ForgetAction(ctx context.Context, id string, k Kind, actionID string) error {
	_, err := s.db.Write.ExecContext(ctx, s.db.Rebind(`DELETE FROM order_action_log WHERE order_id = ? AND kind = ? AND action_id = ?`), id, string(k), actionID)
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
