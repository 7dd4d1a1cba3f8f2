package inspect

import "bytes"

// Erase drops the ring's events whose payload or profile contains one of
// needles (a person's email or phone number, as sent), for a
// right-to-be-forgotten request, and returns how many it dropped.
func (r *Ring) Erase(needles []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.events[:0]
	dropped := 0
	for i := range r.events {
		e := &r.events[i]
		hit := false
		for _, n := range needles {
			if n != "" && (bytes.Contains(e.Payload, []byte(n)) || bytes.Contains([]byte(e.Profile), []byte(n))) {
				hit = true
				break
			}
		}
		if hit {
			r.bytes -= entryBytes(e)
			dropped++
			continue
		}
		kept = append(kept, *e)
	}
	clear(r.events[len(kept):])
	r.events = kept
	if dropped > 0 {
		r.notify()
	}
	return dropped
}
