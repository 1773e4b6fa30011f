package redisstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/redisstore"
)

// driverOn is a driver under prefix with the tokenizer, whose keys are
// deleted when the test ends.
func driverOn(t testing.TB, c redis.UniversalClient, prefix, tokenizer string, ttl time.Duration) *redisstore.Store {
	t.Helper()
	drv, err := redisstore.New(c, &redisstore.Options{KeyPrefix: prefix, Tokenizer: tokenizer, TTL: ttl, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drv.DeleteAll(context.Background()); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	})
	return drv
}

// storeOn is a chatstore.Store over drv, counting with drv's counter.
func storeOn(t testing.TB, drv *redisstore.Store) *chatstore.Store {
	t.Helper()
	st, err := chatstore.New(drv, &chatstore.Options{Tokenizer: drv.Counter()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// checkCosts checks that every read of the history gives each message the
// cost tokenizer measures from its JSON, and that its Info (alone and in a
// listing) has their sum. First, as reads would mend them, it checks the
// keys as they are: one cost per position, their sum and the tokenizer in
// the state.
func checkCosts(t *testing.T, c redis.UniversalClient, prefix string, drv *redisstore.Store, id, tokenizer string) {
	t.Helper()
	ctx := t.Context()
	m, err := chatstore.NewMeter(tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	base := prefix + "{" + strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D").Replace(id) + "}:"
	costs := []byte(c.Get(ctx, base+"w").Val())
	kinds := c.Get(ctx, base+"t").Val()
	st := c.HMGet(ctx, base+"s", "tk", "tt", "tf").Val()
	if len(costs) != 16*len(kinds) {
		t.Errorf("%s: %d bytes of costs for %d kinds", id, len(costs), len(kinds))
	}
	var tt, tf int64
	for i := 0; i+16 <= len(costs); i += 16 {
		t1, f1 := int64(binary.BigEndian.Uint64(costs[i:])), int64(binary.BigEndian.Uint64(costs[i+8:]))
		if kinds[i/16] == 'x' && (t1 != 0 || f1 != 0) {
			t.Errorf("%s: a deleted message's cost at %d", id, i/16)
		}
		tt, tf = tt+t1, tf+f1
	}
	if st[0] != tokenizer || st[1] != fmt.Sprint(tt) || st[2] != fmt.Sprint(tf) {
		t.Errorf("%s: state %q, want %s %d %d", id, st, tokenizer, tt, tf)
	}
	msgs, err := drv.Range(ctx, id, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var sum driver.Cost
	want := map[int64]driver.Cost{}
	for _, msg := range msgs {
		c, err := m.Measure(msg.JSON)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Cost != c {
			t.Errorf("%s: range: message %s costs %+v, %s measures %+v", id, msg.ID, msg.Cost, tokenizer, c)
		}
		want[msg.Pos] = c
		sum = sum.Add(c)
	}
	same := func(what string, got []driver.Message) {
		t.Helper()
		for _, msg := range got {
			if msg.Cost != want[msg.Pos] {
				t.Errorf("%s: %s: message %s costs %+v, want %+v", id, what, msg.ID, msg.Cost, want[msg.Pos])
			}
		}
	}
	tail, err := drv.Tail(ctx, id, 1<<30)
	if err != nil || len(tail) != len(msgs) {
		t.Fatalf("%s: tail: %d messages, %v", id, len(tail), err)
	}
	same("tail", tail)
	page, err := drv.Page(ctx, id, driver.Span{Before: 1 << 40, Limit: 1000})
	if err != nil || len(page) != len(msgs) {
		t.Fatalf("%s: page: %d messages, %v", id, len(page), err)
	}
	same("page", page)
	for _, msg := range msgs {
		one, err := drv.Message(ctx, id, msg.ID)
		if err != nil {
			t.Fatal(err)
		}
		same("message", []driver.Message{one})
	}
	info, ok, err := drv.Info(ctx, id)
	if err != nil || !ok || info.Cost != sum {
		t.Errorf("%s: info %+v %v %v, want cost %+v", id, info, ok, err, sum)
	}
	list, err := drv.Query(ctx, driver.Query{Prefix: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.ID == id && in.Cost != sum {
			t.Errorf("%s: listed with cost %+v, want %+v", id, in.Cost, sum)
		}
	}
}

// TestCosts: costs are stored with each message and kept summed through
// writes, skips, deletes, truncations, forks and metadata changes, on both
// kinds of client. storetest checks what the store says; this checks the
// keys too, as they are before a read mends them (a read of costs that do
// not cover the kinds measures the history again).
func TestCosts(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		drv := driverOn(t, c, prefix, "", 0)
		st := storeOn(t, drv)
		withID := func(m chat.Message, id string) chat.Message {
			m.Meta = map[string]any{chatstore.MessageIDKey: id}
			return m
		}
		if _, err := st.Write(ctx, "h", []chat.Message{chat.User("hello there"), chat.Assistant("héllo, wörld"),
			withID(chat.User("with an id"), "q1")}); err != nil {
			t.Fatal(err)
		}
		// A skipped id adds nothing.
		if n, err := st.Write(ctx, "h", []chat.Message{withID(chat.User("again"), "q1"), chat.Assistant(strings.Repeat("long ", 50))}); err != nil || n != 1 {
			t.Fatalf("write: %d %v", n, err)
		}
		if n, _, err := st.WriteIdempotent(ctx, "h", "k", []chat.Message{chat.User("keyed"), chat.Assistant("ok")}); err != nil || n != 2 {
			t.Fatalf("keyed write: %d %v", n, err)
		}
		checkCosts(t, c, prefix, drv, "h", chatstore.TokenizerApprox)
		if err := st.DeleteMessage(ctx, "h", "1"); err != nil {
			t.Fatal(err)
		}
		checkCosts(t, c, prefix, drv, "h", chatstore.TokenizerApprox)
		for _, through := range []*string{nil, chat.Ptr("q1")} {
			name := "f-all"
			if through != nil {
				name = "f-" + *through
			}
			info, err := drv.Fork(ctx, "h", name, through, 5)
			if err != nil {
				t.Fatal(err)
			}
			checkCosts(t, c, prefix, drv, name, chatstore.TokenizerApprox)
			if in, _, _ := drv.Info(ctx, name); info.Cost != in.Cost {
				t.Errorf("fork %s answered cost %+v, holds %+v", name, info.Cost, in.Cost)
			}
		}
		if n, err := st.Truncate(ctx, "h", "q1"); err != nil || n != 4 {
			t.Fatalf("truncate: %d %v", n, err)
		}
		checkCosts(t, c, prefix, drv, "h", chatstore.TokenizerApprox)
		if _, err := st.Truncate(ctx, "h", "0"); err != nil {
			t.Fatal(err)
		}
		if info, ok, err := drv.Info(ctx, "h"); err != nil || !ok || info.Cost != (driver.Cost{}) {
			t.Errorf("after truncating all: %+v %v %v", info, ok, err)
		}
		v := "x"
		info, err := drv.SetMetadata(ctx, "f-all", map[string]*string{"k": &v}, 16, 10)
		if in, _, _ := drv.Info(ctx, "f-all"); err != nil || info.Cost != in.Cost || in.Cost == (driver.Cost{}) {
			t.Errorf("set metadata answered %+v (%v), holds %+v", info, err, in.Cost)
		}
		info, err = drv.SetMetadata(ctx, "new", map[string]*string{"k": &v}, 16, 10)
		if err != nil || info.Cost != (driver.Cost{}) {
			t.Errorf("set metadata of a new history: %+v %v", info, err)
		}
		if _, err := st.Write(ctx, "new", []chat.Message{chat.User("first words")}); err != nil {
			t.Fatal(err)
		}
		checkCosts(t, c, prefix, drv, "new", chatstore.TokenizerApprox)
	})
}

// TestCompactionKeys: a history's records are a key of its slot, which
// the tail script looks at (driver.CompactionTailer), Delete deletes, and
// a compaction renews, with a TTL, with the history's other keys.
// storetest checks what records do.
func TestCompactionKeys(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		drv := driverOn(t, c, prefix, "", 2*time.Second)
		st := storeOn(t, drv)
		if _, err := st.Write(ctx, "h", []chat.Message{chat.User("a"), chat.Assistant("b")}); err != nil {
			t.Fatal(err)
		}
		if msgs, compacted, err := drv.TailUncompacted(ctx, "h", driver.Span{Rounds: 1}, 0); err != nil || compacted || len(msgs) != 2 {
			t.Errorf("tail of a history without records: %d messages, %v, %v", len(msgs), compacted, err)
		}
		for _, k := range []string{"s", "m", "w"} {
			c.PExpire(ctx, prefix+"{h}:"+k, 100*time.Millisecond)
		}
		rec := driver.Compaction{Through: "1", ThroughPos: 1, JSON: []byte(`{"role":"user","meta":{},"name":null,"content":[{"text":"summary"}]}`),
			Cost: driver.Cost{Text: 7, Flat: 1}, CreatedAt: time.Now().UnixMilli()}
		if err := drv.Compact(ctx, "h", rec, 3); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"s", "m", "w", "z"} {
			if d, err := c.PTTL(ctx, prefix+"{h}:"+k).Result(); err != nil || d < time.Second || d > 2*time.Second {
				t.Errorf(":%s expires in %v (%v), want about 2s", k, d, err)
			}
		}
		if msgs, compacted, err := drv.TailUncompacted(ctx, "h", driver.Span{Rounds: 1}, 0); err != nil || !compacted || len(msgs) != 0 {
			t.Errorf("tail of a history with records: %d messages, %v, %v", len(msgs), compacted, err)
		}
		if got, err := drv.Compactions(ctx, "h"); err != nil || len(got) != 1 || got[0].Through != rec.Through || got[0].ThroughPos != rec.ThroughPos ||
			string(got[0].JSON) != string(rec.JSON) || got[0].Cost != rec.Cost || got[0].CreatedAt != rec.CreatedAt {
			t.Errorf("the record read back: %+v %v", got, err)
		}
		if err := drv.Delete(ctx, "h"); err != nil {
			t.Fatal(err)
		}
		if keys := leftAfterDelete(t, c, prefix+"{*"); len(keys) != 0 {
			t.Errorf("keys left after Delete: %q", keys)
		}
	})
}

// TestTokenizer: a store opened with another tokenizer measures again
// every message and compaction record, and records the new counter; a
// store still counting with the old one measures a history back when it
// uses it, so that no history ever holds costs of two counters.
func TestTokenizer(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		old := driverOn(t, c, prefix, "", 0)
		if err := old.Prepare(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c.Get(ctx, prefix+"}tokenizer").Val(); got != chatstore.TokenizerApprox {
			t.Errorf("an empty store records %q", got)
		}
		ost := storeOn(t, old)
		ids := make([]string, 30)
		for i := range ids {
			ids[i] = fmt.Sprintf("h%d{%%}", i)
			if _, err := ost.Write(ctx, ids[i], []chat.Message{chat.User(fmt.Sprintf("question %d: what is the weather in Paris?", i)),
				chat.Assistant("Sunny, 21 °C — 晴れ")}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ost.Compact(ctx, ids[0], "1", chat.User("a summary of the weather talk")); err != nil {
			t.Fatal(err)
		}
		if err := ost.DeleteMessage(ctx, ids[1], "0"); err != nil {
			t.Fatal(err)
		}

		for _, tok := range []string{chatstore.TokenizerO200k, chatstore.TokenizerCl100k} {
			drv := driverOn(t, c, prefix, tok, 0)
			if err := drv.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			if got := c.Get(ctx, prefix+"}tokenizer").Val(); got != tok {
				t.Errorf("recorded tokenizer %q, want %q", got, tok)
			}
			for _, id := range ids {
				checkCosts(t, c, prefix, drv, id, tok)
			}
			m, _ := chatstore.NewMeter(tok)
			recs, err := drv.Compactions(ctx, ids[0])
			if err != nil || len(recs) != 1 {
				t.Fatalf("compactions: %+v %v", recs, err)
			}
			if c, _ := m.Measure(recs[0].JSON); recs[0].Cost != c {
				t.Errorf("the record costs %+v, %s measures %+v", recs[0].Cost, tok, c)
			}
		}
		// The store of the first tokenizer measures back what it uses.
		if _, err := old.Tail(ctx, ids[0], 1); err != nil {
			t.Fatal(err)
		}
		checkCosts(t, c, prefix, old, ids[0], chatstore.TokenizerApprox)
		if _, err := ost.Write(ctx, ids[2], []chat.Message{chat.User("more")}); err != nil {
			t.Fatal(err)
		}
		checkCosts(t, c, prefix, old, ids[2], chatstore.TokenizerApprox)
		recs, err := old.Compactions(ctx, ids[0])
		if err != nil || len(recs) != 1 {
			t.Fatalf("compactions: %+v %v", recs, err)
		}
		m, _ := chatstore.NewMeter(chatstore.TokenizerApprox)
		if c, _ := m.Measure(recs[0].JSON); recs[0].Cost != c {
			t.Errorf("the record measured back costs %+v, want %+v", recs[0].Cost, c)
		}
	})
}

// TestOpenTokenizer: chatstore.Open passes tokenizer= to the driver, which
// measures what the store holds before it answers.
func TestOpenTokenizer(t *testing.T) {
	raw := testenv.Get(t, urlEnv, urlExample)
	c := singleClient(t)
	ctx := t.Context()
	prefix := testPrefix()
	st := storeOn(t, driverOn(t, c, prefix, "", 0))
	if _, err := st.Write(ctx, "h", []chat.Message{chat.User("Where is the nearest station?")}); err != nil {
		t.Fatal(err)
	}
	o, err := chatstore.Open(ctx, raw+"?key_prefix="+prefix+"&tokenizer=o200k_base", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if got := c.Get(ctx, prefix+"}tokenizer").Val(); got != chatstore.TokenizerO200k {
		t.Errorf("recorded tokenizer %q", got)
	}
	if got := c.HGet(ctx, prefix+"{h}:s", "tk").Val(); got != chatstore.TokenizerO200k {
		t.Errorf("the history is of %q", got)
	}
	drv := driverOn(t, c, prefix, chatstore.TokenizerO200k, 0)
	checkCosts(t, c, prefix, drv, "h", chatstore.TokenizerO200k)
}

// TestConcurrentPrepare: two stores preparing one store's data at once
// (two processes opening it) both succeed, and every history is measured
// once right.
func TestConcurrentPrepare(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		st := storeOn(t, driverOn(t, c, prefix, "", 0))
		ids := make([]string, 200)
		for i := range ids {
			ids[i] = fmt.Sprint("h", i)
			if _, err := st.Write(ctx, ids[i], []chat.Message{chat.User(fmt.Sprint("question ", i)), chat.Assistant("answer")}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			drv := driverOn(t, c, prefix, chatstore.TokenizerCl100k, 0)
			wg.Go(func() { errs[i] = drv.Prepare(ctx) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		drv := driverOn(t, c, prefix, chatstore.TokenizerCl100k, 0)
		for _, id := range ids {
			checkCosts(t, c, prefix, drv, id, chatstore.TokenizerCl100k)
		}
	})
}

// TestPrepareResumes: a history that cannot be measured (a message that
// does not decode) is left for the calls that use it, the others are
// measured, and the tokenizer is not recorded; once it can be, the next
// Prepare measures only it and records the tokenizer.
func TestPrepareResumes(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		st := storeOn(t, driverOn(t, c, prefix, "", 0))
		for _, id := range []string{"a", "b", "c"} {
			if _, err := st.Write(ctx, id, []chat.Message{chat.User("q " + id), chat.Assistant("a " + id)}); err != nil {
				t.Fatal(err)
			}
		}
		good := c.LIndex(ctx, prefix+"{b}:m", 1).Val()
		if err := c.LSet(ctx, prefix+"{b}:m", 1, "not json").Err(); err != nil {
			t.Fatal(err)
		}
		drv := driverOn(t, c, prefix, chatstore.TokenizerO200k, 0)
		if err := drv.Prepare(ctx); err != nil {
			t.Fatal(err)
		}
		if n := c.Exists(ctx, prefix+"}tokenizer").Val(); n != 0 {
			t.Errorf("the tokenizer is recorded with a history not measured")
		}
		for _, id := range []string{"a", "c"} {
			if got := c.HGet(ctx, prefix+"{"+id+"}:s", "tk").Val(); got != chatstore.TokenizerO200k {
				t.Errorf("%s is of %q", id, got)
			}
		}
		if _, err := drv.Tail(ctx, "b", 1); !errors.Is(err, chatstore.ErrIncompatibleSchema) {
			t.Errorf("reading the history that cannot be measured: %v", err)
		}
		// Listings list it, with no cost.
		if infos, err := drv.Query(ctx, driver.Query{Limit: 10}); err != nil || len(infos) != 3 || infos[1].Cost != (driver.Cost{}) {
			t.Errorf("listing: %+v %v", infos, err)
		}
		if err := c.LSet(ctx, prefix+"{b}:m", 1, good).Err(); err != nil {
			t.Fatal(err)
		}
		// Only b is measured now: a's costs, changed by hand, stay.
		if err := c.HSet(ctx, prefix+"{a}:s", "tt", 12345).Err(); err != nil {
			t.Fatal(err)
		}
		if err := drv.Prepare(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c.Get(ctx, prefix+"}tokenizer").Val(); got != chatstore.TokenizerO200k {
			t.Errorf("recorded tokenizer %q", got)
		}
		if got := c.HGet(ctx, prefix+"{a}:s", "tt").Val(); got != "12345" {
			t.Errorf("a was measured again: tt %s", got)
		}
		checkCosts(t, c, prefix, drv, "b", chatstore.TokenizerO200k)
		checkCosts(t, c, prefix, drv, "c", chatstore.TokenizerO200k)
	})
}

// TestEarlierProcessAppends: messages appended by a chatstore that kept no
// costs (a process of the earlier release still running) are noticed, and
// the history measured, by the next read that uses costs or write; a bare
// read (driver.Span.Bare), which uses none, reads the history as it is.
func TestEarlierProcessAppends(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		drv := driverOn(t, c, prefix, "", 0)
		st := storeOn(t, drv)
		for _, id := range []string{"r", "w"} {
			if _, err := st.Write(ctx, id, []chat.Message{chat.User("q"), chat.Assistant("a")}); err != nil {
				t.Fatal(err)
			}
			// What the earlier release's write script does.
			base := prefix + "{" + id + "}:"
			body, _ := chat.User("appended by an earlier release").MarshalJSON()
			for _, err := range []error{
				c.RPush(ctx, base+"m", body).Err(), c.Append(ctx, base+"t", "0").Err(), c.RPush(ctx, base+"c", 7).Err(),
				c.HSet(ctx, base+"s", "c", 3, "n", 3).Err(),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		if msgs, _, err := drv.TailUncompacted(ctx, "r", driver.Span{Rounds: 2, Bare: true}, 0); err != nil || len(msgs) != 3 || !strings.Contains(string(msgs[2].JSON), "earlier release") {
			t.Errorf("bare tail: %+v %v", msgs, err)
		}
		if msgs, err := drv.Tail(ctx, "r", 1); err != nil || len(msgs) == 0 || msgs[len(msgs)-1].Cost.Text == 0 {
			t.Errorf("tail: %+v %v", msgs, err)
		}
		checkCosts(t, c, prefix, drv, "r", chatstore.TokenizerApprox)
		if _, err := st.Write(ctx, "w", []chat.Message{chat.Assistant("b")}); err != nil {
			t.Fatal(err)
		}
		checkCosts(t, c, prefix, drv, "w", chatstore.TokenizerApprox)
	})
}
