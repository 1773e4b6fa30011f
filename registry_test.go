package chatstore

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/driver"
)

func TestRegistry(t *testing.T) {
	// Each opener fails with its own error, which tells them apart.
	errA, errB, errA2 := errors.New("a"), errors.New("b"), errors.New("a again")
	opener := func(err error) OpenFunc {
		return func(context.Context, *url.URL, *Options) (driver.Store, error) { return nil, err }
	}
	is := func(open OpenFunc, want error) bool {
		_, err := open(t.Context(), nil, nil)
		return err == want
	}
	var r registry
	r.add("b", opener(errB))
	r.add("a", opener(errA))
	if v, ok := r.get("b"); !ok || !is(v, errB) {
		t.Errorf("get(b) = %v, %v", v, ok)
	}
	if _, ok := r.get("c"); ok {
		t.Error("get(c) found something")
	}
	if got := r.names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("names = %v", got)
	}
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "scheme a registered twice") {
			t.Errorf("second add: panic %q, want one naming the duplicate", msg)
		}
		if v, _ := r.get("a"); !is(v, errA) {
			t.Errorf("duplicate replaced the first")
		}
	}()
	r.add("a", opener(errA2))
}
