package memstore

import "github.com/chatstore/chatstore/driver"

// idSet holds the message ids of one history. Generated ids are the decimal
// strings of small counters, so those live in a bitset: a lookup or insert
// costs a few nanoseconds instead of a hash of a string in a map of a million
// entries. Every other id (caller-supplied names, huge numbers, "007") goes
// to the map.
type idSet struct {
	bits  []uint64
	other map[string]struct{}
}

// maxBit bounds the bitset at 2^26 ids (8 MiB); larger numbers use the map,
// so a caller-supplied "999999999999" cannot make the store allocate much.
const maxBit = 1 << 26

// decimal returns the position a generated id names, when it is below
// maxBit.
func decimal(id string) (int, bool) {
	n, ok := driver.Position(id)
	return int(n), ok && n < maxBit
}

func (s *idSet) has(id string) bool {
	if n, ok := decimal(id); ok {
		return n/64 < len(s.bits) && s.bits[n/64]&(1<<(n%64)) != 0
	}
	_, ok := s.other[id]
	return ok
}

func (s *idSet) add(id string) {
	if n, ok := decimal(id); ok {
		for n/64 >= len(s.bits) {
			s.bits = append(s.bits, make([]uint64, max(1, len(s.bits)))...)
		}
		s.bits[n/64] |= 1 << (n % 64)
		return
	}
	if s.other == nil {
		s.other = map[string]struct{}{}
	}
	s.other[id] = struct{}{}
}
