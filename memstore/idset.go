package memstore

import "github.com/chatstore/chatstore/driver"

// idSet holds the message ids of one history and where each is. Most ids
// are the decimal strings of their own positions (generated ids in a
// history that never lost a message), so those live in a bitset: a lookup
// or insert costs a few nanoseconds instead of a hash of a string in a map
// of a million entries. Every other id (caller-supplied names, huge
// numbers, "007", a generated id at another position) goes to the map,
// with its position.
type idSet struct {
	bits  []uint64
	other map[string]int
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

func (s *idSet) bit(n int) bool { return n/64 < len(s.bits) && s.bits[n/64]&(1<<(n%64)) != 0 }

// pos returns the position of the message with id, if any.
func (s *idSet) pos(id string) (int, bool) {
	if n, ok := decimal(id); ok && s.bit(n) {
		return n, true
	}
	p, ok := s.other[id]
	return p, ok
}

func (s *idSet) has(id string) bool {
	_, ok := s.pos(id)
	return ok
}

// add records id at position pos.
func (s *idSet) add(id string, pos int) {
	if n, ok := decimal(id); ok && n == pos {
		for n/64 >= len(s.bits) {
			s.bits = append(s.bits, make([]uint64, max(1, len(s.bits)))...)
		}
		s.bits[n/64] |= 1 << (n % 64)
		return
	}
	if s.other == nil {
		s.other = map[string]int{}
	}
	s.other[id] = pos
}

// remove forgets id.
func (s *idSet) remove(id string) {
	if n, ok := decimal(id); ok && s.bit(n) {
		s.bits[n/64] &^= 1 << (n % 64)
		return
	}
	delete(s.other, id)
}
