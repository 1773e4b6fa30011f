package chatstore

import (
	"maps"
	"slices"
	"sync"
)

// registry holds what backends register from init, by name: URL schemes for
// Open, Haystack type names for FromHaystack.
type registry[T any] struct {
	what string // "scheme", for the duplicate panic
	mu   sync.RWMutex
	m    map[string]T
}

// add panics if name is taken, as database/sql's Register does: two
// backends claiming one name is a build mistake.
func (r *registry[T]) add(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic("chatstore: " + r.what + " " + name + " registered twice")
	}
	if r.m == nil {
		r.m = map[string]T{}
	}
	r.m[name] = v
}

func (r *registry[T]) get(name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.m[name]
	return v, ok
}

// names lists the registered names, sorted.
func (r *registry[T]) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.m))
}
