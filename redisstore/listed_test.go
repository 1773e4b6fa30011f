package redisstore

import (
	"strconv"
	"testing"
)

// TestListings: a failed listing is remembered until a listing of the
// history in as late a step succeeds, not an earlier step's (a slower
// write's), and makes the history unknown; at most maxFailed failures are
// remembered, and at most maxKnown histories known.
func TestListings(t *testing.T) {
	var l listings
	if l.has("h") || l.failedListing("h") {
		t.Error("an empty memory knows a history")
	}
	l.note("h", 5, false)
	l.note("h", 4, true)
	if !l.failedListing("h") {
		t.Error("a success in an earlier step forgot a failure")
	}
	l.note("h", 3, false)
	l.note("h", 4, true)
	if !l.failedListing("h") {
		t.Error("a failure in an earlier step lowered the step remembered")
	}
	if !l.has("h") {
		t.Error("a success did not make the history known")
	}
	l.note("h", 5, true)
	if l.failedListing("h") {
		t.Error("a success in the failure's step did not forget it")
	}
	l.note("h", 6, false)
	if l.has("h") {
		t.Error("a failure left the history known")
	}
	l.note("g", 1, true)
	if l.failedListing("g") || !l.has("g") {
		t.Error("a success is remembered as a failure, or not at all")
	}
	for i := range maxFailed + 10 {
		l.note(strconv.Itoa(i), 1, false)
	}
	if n := len(l.failed); n != maxFailed {
		t.Errorf("%d failures remembered, want at most %d", n, maxFailed)
	}
	l.note("0", 2, false) // one remembered already may still move on
	if l.failed["0"] != 2 {
		t.Errorf("step %d remembered for a later failure, want 2", l.failed["0"])
	}
	for i := range maxKnown + 10 {
		l.note("k"+strconv.Itoa(i), 1, true)
	}
	if n := len(l.known); n > maxKnown {
		t.Errorf("%d histories known, want at most %d", n, maxKnown)
	}
	if !l.has("k" + strconv.Itoa(maxKnown+9)) {
		t.Error("the latest success is not known")
	}
}
