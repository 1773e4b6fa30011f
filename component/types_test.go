package component

import (
	"testing"

	"github.com/chatstore/chatstore/memstore"
)

// TestStoreTypesNamed: the in-memory store loads as memstore's shared
// store for Haystack dictionaries, and memstore writes its dictionaries
// with the same type name, so a dictionary written is one that loads.
func TestStoreTypesNamed(t *testing.T) {
	if got := storeTypes[memstore.HaystackType]; got != "memory://"+memstore.HaystackShared {
		t.Errorf("%s loads as %q, want memory://%s", memstore.HaystackType, got, memstore.HaystackShared)
	}
	name, _ := memstore.New().HaystackType()
	if _, ok := storeTypes[name]; !ok {
		t.Errorf("memstore writes type %q, which does not load", name)
	}
}
