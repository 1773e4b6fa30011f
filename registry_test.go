package chatstore

import (
	"slices"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := registry[int]{what: "thing"}
	r.add("b", 2)
	r.add("a", 1)
	if v, ok := r.get("b"); !ok || v != 2 {
		t.Errorf("get(b) = %d, %v", v, ok)
	}
	if _, ok := r.get("c"); ok {
		t.Error("get(c) found something")
	}
	if got := r.names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("names = %v", got)
	}
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "thing a registered twice") {
			t.Errorf("second add: panic %q, want one naming the duplicate", msg)
		}
		if v, _ := r.get("a"); v != 1 {
			t.Errorf("duplicate replaced the first: %d", v)
		}
	}()
	r.add("a", 3)
}
