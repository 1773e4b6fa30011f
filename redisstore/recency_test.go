package redisstore_test

import (
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/testenv"
)

// TestRecencyOnCluster: on a cluster a write moves its history in the
// recency index beside its script, not after it. The index must then say
// what the history's own updated time says after every kind of write: one
// that writes (moved early, with no list after), one that writes nothing
// (an id the history holds) and a replayed idempotency key, neither of
// which may leave the history ahead of its time.
func TestRecencyOnCluster(t *testing.T) {
	c := clusterClient(t)
	s := freshStore(t, c, 0)
	clock := testenv.NewClock(1_700_000_000_000)
	st, err := chatstore.New(s, &chatstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	check := func(step string, want int64) {
		t.Helper()
		score, err := c.ZScore(ctx, s.RecencyKey(), "h").Result()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		info, ok, err := st.Info(ctx, "h")
		if err != nil || !ok {
			t.Fatalf("%s: %v", step, err)
		}
		if got := int64(-score); got != want || info.UpdatedAt.UnixMilli() != want {
			t.Errorf("%s: the index says %d, the history %d, want both %d", step, got, info.UpdatedAt.UnixMilli(), want)
		}
	}
	withID := func(text, id string) chat.Message { return chat.User(text).WithMeta(chatstore.MessageIDKey, id) }
	write := func(step string, want int, msgs ...chat.Message) {
		t.Helper()
		n, err := st.Write(ctx, "h", msgs)
		if err != nil || n != want {
			t.Fatalf("%s: wrote %d (%v), want %d", step, n, err, want)
		}
	}

	t0 := clock.Millis()
	write("first write", 1, withID("a", "a"))
	check("first write", t0)
	clock.Add(10 * time.Millisecond)
	write("second write", 1, withID("b", "b"))
	check("second write", t0+10)
	clock.Add(10 * time.Millisecond)
	write("a held id", 0, withID("a", "a"))
	check("a write of a held id", t0+10)

	clock.Add(10 * time.Millisecond)
	if _, _, err := st.WriteIdempotent(ctx, "h", "key-1", []chat.Message{chat.User("c")}); err != nil {
		t.Fatal(err)
	}
	check("a keyed write", t0+30)
	clock.Add(10 * time.Millisecond)
	if _, replayed, err := st.WriteIdempotent(ctx, "h", "key-1", []chat.Message{chat.User("c")}); err != nil || !replayed {
		t.Fatalf("replay: replayed %v, %v", replayed, err)
	}
	check("a replayed keyed write", t0+30)
}
