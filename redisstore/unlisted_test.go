package redisstore

import (
	"strconv"
	"testing"
)

// TestNoteListing: a failed listing is remembered until a listing of the
// history in as late a step succeeds, not an earlier step's (a slower
// write's); at most maxUnlisted histories are.
func TestNoteListing(t *testing.T) {
	var s Store
	s.noteListing("h", 5, false)
	s.noteListing("h", 4, true)
	if !s.failedListing("h") {
		t.Error("a success in an earlier step forgot a failure")
	}
	s.noteListing("h", 3, false)
	s.noteListing("h", 4, true)
	if !s.failedListing("h") {
		t.Error("a failure in an earlier step lowered the step remembered")
	}
	s.noteListing("h", 5, true)
	if s.failedListing("h") {
		t.Error("a success in the failure's step did not forget it")
	}
	s.noteListing("g", 1, true)
	if s.failedListing("g") {
		t.Error("a success is remembered as a failure")
	}
	for i := range maxUnlisted + 10 {
		s.noteListing(strconv.Itoa(i), 1, false)
	}
	if n := len(s.unlisted); n != maxUnlisted {
		t.Errorf("%d histories remembered, want at most %d", n, maxUnlisted)
	}
	s.noteListing("0", 2, false) // one remembered already may still move on
	if s.unlisted["0"] != 2 {
		t.Errorf("step %d remembered for a later failure, want 2", s.unlisted["0"])
	}
}
