package memstore_test

import (
	"fmt"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"

	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
	"github.com/chatstore/chatstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) driver.Store {
		return memstore.New()
	})
}

// TestConformanceRequiredOnly runs the suite on a driver that has only the
// methods every driver must have, so that chatstore.Store's fallbacks for
// the optional ones (driver.Tailer: the portable walk over pages of Range)
// are held to the same rules.
func TestConformanceRequiredOnly(t *testing.T) {
	storetest.Run(t, func(t *testing.T) driver.Store {
		return struct{ driver.Store }{memstore.New()}
	})
}

// TestSearchScoresAreTheMessages: a hit's score depends on the message and
// the query alone, so one tenant's scores say nothing of another's words.
func TestSearchScoresAreTheMessages(t *testing.T) {
	ctx := t.Context()
	st, err := chatstore.Open(ctx, "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := chatstore.Prefixed(st, "tenant:a:"), chatstore.Prefixed(st, "tenant:b:")
	a.Write(ctx, "h1", []chat.Message{chat.User("alpha swordfish")})
	a.Write(ctx, "h2", []chat.Message{chat.User("alpha marlin")})
	score := func(q string) float64 {
		t.Helper()
		p, err := a.Search(ctx, chatstore.SearchOptions{Query: q})
		if err != nil || len(p.Hits) != 1 {
			t.Fatalf("%q: %+v %v", q, p, err)
		}
		return p.Hits[0].Score
	}
	before := [2]float64{score("swordfish"), score("marlin")}
	for i := range 5 {
		b.Write(ctx, fmt.Sprint("h", i), []chat.Message{chat.User("swordfish swordfish and more words")})
	}
	if after := [2]float64{score("swordfish"), score("marlin")}; after != before || before[0] != before[1] {
		t.Errorf("tenant a's scores (swordfish, marlin): %v, then %v after tenant b wrote", before, after)
	}
}
