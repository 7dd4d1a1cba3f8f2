package inspect

import "encoding/json"

// SourceRestore is the source of cart restore visits (GET /r/{token}).
const SourceRestore = "restore"

// States of restore visits: the outcome of the link.
const (
	StateRestored = "restored"
	StateExpired  = "expired"
	StateInvalid  = "invalid"
)

// restoreState reports whether s is the state of a restore visit.
func restoreState(s string) bool {
	return s == StateRestored || s == StateExpired || s == StateInvalid
}

// RecordRestore adds a restore visit: its outcome (restored, expired or
// invalid) and, when restored, the cart's id. The token is never kept:
// it would restore the cart for whoever reads the inspector, and an
// invalid one is whatever a visitor typed.
func (r *Ring) RecordRestore(outcome, cartID string) {
	v := map[string]string{"outcome": outcome}
	if outcome == StateRestored && cartID != "" {
		v["cart_id"] = cartID
	}
	push, _ := json.Marshal([]any{"cartRestore", v})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add("", SourceRestore, outcome, push, "", false)
	r.notify()
}
