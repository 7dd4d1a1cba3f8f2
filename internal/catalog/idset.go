package catalog

import "slices"

// idSet is an open-addressing set of 64-bit id hashes, about 16 bytes
// per id at its fullest (a Go map of the same keys takes about 40), for
// the duplicate check while a snapshot is built. Zero marks an empty slot,
// so the hash 0 is stored as 1 (one more collision in 2⁶⁴).
type idSet struct {
	slots []uint64
	n     int
}

func (s *idSet) key(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// add inserts h and reports whether it was new.
func (s *idSet) add(h uint64) bool {
	h = s.key(h)
	if s.n*2 >= len(s.slots) { // keep the load factor at most 1/2
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.n++
			return true
		case h:
			return false
		}
	}
}

func (s *idSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(1024, 2*len(old)))
	s.n = 0
	for _, h := range old {
		if h != 0 {
			s.add(h)
		}
	}
}

// sorted returns the members in increasing order and empties the set.
func (s *idSet) sorted() []uint64 {
	out := make([]uint64, 0, s.n)
	for _, h := range s.slots {
		if h != 0 {
			out = append(out, h)
		}
	}
	s.slots, s.n = nil, 0
	slices.Sort(out)
	return out
}
