package chatstore

import (
	"maps"
	"slices"
	"sync"
)

// registry holds the URL schemes backends register from init, for Open.
type registry struct {
	mu sync.RWMutex
	m  map[string]OpenFunc
}

// add panics if scheme is taken, as database/sql's Register does: two
// backends claiming one scheme is a build mistake.
func (r *registry) add(scheme string, open OpenFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[scheme]; dup {
		panic("chatstore: scheme " + scheme + " registered twice")
	}
	if r.m == nil {
		r.m = map[string]OpenFunc{}
	}
	r.m[scheme] = open
}

func (r *registry) get(scheme string) (OpenFunc, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	open, ok := r.m[scheme]
	return open, ok
}

// names lists the registered schemes, sorted.
func (r *registry) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.m))
}
