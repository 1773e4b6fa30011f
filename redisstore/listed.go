package redisstore

import "sync"

// listings is what a process knows of its own listings on a cluster, where
// a write lists its history after its script or beside it (listWritten,
// prelist):
//   - known: the histories it has listed, so that a write to one of them
//     does not list it beside its script, as a write that may create its
//     history does; at most maxKnown, and forgotten all at once past that,
//     which costs only listings beside scripts;
//   - failed: the histories whose listing failed in this process, with the
//     latest step it failed in, so that their next write lists them
//     whatever its step; at most maxFailed.
type listings struct {
	mu     sync.Mutex
	known  map[string]struct{}
	failed map[string]int64
}

const (
	// maxKnown bounds listings.known.
	maxKnown = 1 << 14
	// maxFailed bounds listings.failed: past it, a history whose listing
	// failed waits for a write in a later step, or a listing that meets
	// it.
	maxFailed = 1024
)

// has reports whether this process listed the history.
func (l *listings) has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.known[id]
	return ok
}

// failedListing reports whether a listing of the history by this process
// failed since its last listing in as late a step.
func (l *listings) failedListing(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.failed[id]
	return ok
}

// note records how a listing of the history in step ended. A success
// forgets a failure in that step or an earlier one only, so that a slower
// write of an earlier step does not forget a later one's failure.
func (l *listings) note(id string, step int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		delete(l.known, id)
		if failed, was := l.failed[id]; was || len(l.failed) < maxFailed {
			if l.failed == nil {
				l.failed = map[string]int64{}
			}
			l.failed[id] = max(failed, step)
		}
		return
	}
	if failed, was := l.failed[id]; was && failed <= step {
		delete(l.failed, id)
	}
	if l.known == nil || len(l.known) >= maxKnown {
		l.known = map[string]struct{}{}
	}
	l.known[id] = struct{}{}
}
