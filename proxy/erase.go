package proxy

import (
	"context"
)

// Erase forgets every browser whose identity names email or phone (a
// right-to-be-forgotten request): its row, and what this instance holds in
// memory for it. It returns how many stored rows it deleted.
func (s *Store) Erase(ctx context.Context, email, phone string) (int64, error) {
	if email == "" && phone == "" {
		return 0, nil
	}
	match := func(idn Identity) bool {
		return email != "" && idn.Email == email || phone != "" && idn.PhoneNumber == phone
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	for id, idn := range s.dirty {
		if match(idn) {
			s.deleteDirtyLocked(id)
		}
	}
	for id, c := range s.cache {
		if match(c.idn) {
			s.uncacheLocked(id)
		}
	}
	s.mu.Unlock()
	res, err := s.db.Write.ExecContext(ctx, s.db.Rebind(`DELETE FROM proxy_browsers WHERE (email <> '' AND email = ?) OR (phone_number <> '' AND phone_number = ?)`), email, phone)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
