package redisstore_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// TestUpgradeLayout1: a history as a chatstore before kinds stored it (round
// numbers in the state hash, a list of round starts) reads the same after
// the store upgrades it on first use, for every last_k, takes writes, and
// is left in the new layout: kinds, no round bookkeeping.
func TestUpgradeLayout1(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		st := prefixedStore(t, c, prefix, 0, &chatstore.Options{KeepSystemMessages: true})
		bodies := map[driver.Kind]chat.Message{
			driver.Joins:  chat.User("q"),
			driver.Closes: chat.Assistant("a"),
			driver.Alone:  chat.System("s"),
		}
		kinds := []driver.Kind{driver.Joins, driver.Closes, driver.Joins, driver.Alone, driver.Joins, driver.Closes, driver.Alone, driver.Joins, driver.Joins}
		base := prefix + "{h}:"
		var closed, open, openStart int64
		var starts []any
		for i, k := range kinds {
			body, err := bodies[k].MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.RPush(ctx, base+"m", body).Err(); err != nil {
				t.Fatal(err)
			}
			switch k {
			case driver.Alone:
				starts = append(starts, i)
				closed++
			case driver.Closes:
				if open > 0 {
					starts = append(starts, openStart)
				} else {
					starts = append(starts, i)
				}
				closed++
				open = 0
			default:
				if open == 0 {
					openStart = int64(i)
				}
				open++
			}
		}
		if err := c.RPush(ctx, base+"r", starts...).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.HSet(ctx, base+"s", "c", len(kinds), "r", closed, "o", open, "os", openStart).Err(); err != nil {
			t.Fatal(err)
		}

		all := make([]driver.Message, len(kinds))
		for i, k := range kinds {
			all[i] = driver.Message{Pos: int64(i), Kind: k}
		}
		check := func(what string, n int) {
			t.Helper()
			for _, k := range []int{1, 2, 3, 4, 5, 6, chatstore.All} {
				want, _ := driver.LastRounds(k, 0, driver.Backwards(all[:n]))
				msgs, err := st.RetrieveLast(ctx, "h", k)
				if err != nil {
					t.Fatalf("%s, last_k %d: %v", what, k, err)
				}
				var got, wantIDs []string
				for _, m := range msgs {
					got = append(got, m.Meta[chatstore.MessageIDKey].(string))
				}
				for _, m := range want {
					wantIDs = append(wantIDs, strconv.FormatInt(m.Pos, 10))
				}
				if !slices.Equal(got, wantIDs) {
					t.Errorf("%s, last_k %d: %v, want %v", what, k, got, wantIDs)
				}
			}
		}
		check("after the upgrade", len(kinds))
		if got := c.Get(ctx, base+"t").Val(); got != "010201200" {
			t.Errorf("kinds stored %q", got)
		}
		if n := c.Exists(ctx, base+"r").Val(); n != 0 {
			t.Errorf("the round starts are still there")
		}
		if fields := c.HKeys(ctx, base+"s").Val(); slices.Contains(fields, "r") || slices.Contains(fields, "o") || slices.Contains(fields, "os") {
			t.Errorf("state fields %v", fields)
		}
		if _, err := st.Write(ctx, "h", []chat.Message{chat.Assistant("closing")}); err != nil {
			t.Fatal(err)
		}
		all = append(all, driver.Message{Pos: int64(len(all)), Kind: driver.Closes})
		check("after a write", len(all))

		// A history in layout 1 is also upgraded by a write or a range.
		if err := c.RPush(ctx, prefix+"{w}:m", `{"role":"user","meta":{},"name":null,"content":[{"text":"x"}]}`).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.HSet(ctx, prefix+"{w}:s", "c", 1, "r", 0, "o", 1, "os", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if n, err := st.Write(ctx, "w", []chat.Message{chat.Assistant("y")}); err != nil || n != 1 {
			t.Fatalf("write to a layout-1 history: %d, %v", n, err)
		}
		if msgs, err := st.Range(ctx, "w", 0, 10); err != nil || len(msgs) != 2 {
			t.Fatalf("range: %d messages, %v", len(msgs), err)
		}
		if msgs, err := st.RetrieveLast(ctx, "w", 1); err != nil || len(msgs) != 2 {
			t.Errorf("one round of user and answer: %d messages, %v", len(msgs), err)
		}
		// Upgraded, they are measured too.
		drv := driverOn(t, c, prefix, "", 0)
		checkCosts(t, c, prefix, drv, "h", chatstore.TokenizerApprox)
		checkCosts(t, c, prefix, drv, "w", chatstore.TokenizerApprox)
	})
}

// TestUpgradeLayout2: a history as a chatstore before driver.Editor stored
// it (no times, no position counter, caller ids in a set) is upgraded on
// first use: its ids are found, skipped and deleted as ever, its messages
// read with no time, and it is left with a hash of ids.
func TestUpgradeLayout2(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		st := prefixedStore(t, c, prefix, 0, nil)
		base := prefix + "{h}:"
		for _, m := range []chat.Message{chat.User("zero"), chat.Assistant("one"), chat.User("two")} {
			body, err := m.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.RPush(ctx, base+"m", body).Err(); err != nil {
				t.Fatal(err)
			}
		}
		for _, err := range []error{
			c.Set(ctx, base+"t", "010", 0).Err(),
			c.RPush(ctx, base+"d", "q1", "x").Err(),
			c.SAdd(ctx, base+"i", "q1", "x").Err(),
			c.HSet(ctx, base+"s", "c", 3, "xp", 1).Err(),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if info, ok, err := st.Info(ctx, "h"); err != nil || !ok || info.Count != 3 {
			t.Fatalf("info before the upgrade: %+v %v %v", info, ok, err)
		}
		m, err := st.Message(ctx, "h", "q1")
		if text, _ := m.Message.Text(); err != nil || text != "one" || !m.CreatedAt.IsZero() {
			t.Fatalf("Message(q1): %+v %v", m, err)
		}
		if typ := c.Type(ctx, base+"i").Val(); typ != "hash" {
			t.Errorf("KEY:i is a %s after the upgrade", typ)
		}
		again := chat.User("again")
		again.Meta = map[string]any{chatstore.MessageIDKey: "x"}
		if n, err := st.Write(ctx, "h", []chat.Message{again, chat.Assistant("three")}); err != nil || n != 1 {
			t.Fatalf("write: %d %v", n, err)
		}
		if err := st.DeleteMessage(ctx, "h", "q1"); err != nil {
			t.Fatal(err)
		}
		msgs, err := st.RetrieveLast(ctx, "h", chatstore.All)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range msgs {
			ids = append(ids, m.Meta[chatstore.MessageIDKey].(string))
		}
		if !slices.Equal(ids, []string{"0", "x", "3"}) {
			t.Errorf("ids after the upgrade, a write and a delete: %v", ids)
		}
		checkCosts(t, c, prefix, driverOn(t, c, prefix, "", 0), "h", chatstore.TokenizerApprox)
	})
}

// layout3 writes histories as the release before costs stored them (layout
// 3, no KEY:w, no tk, tt, tf): "h" with a deleted message, "ids" with
// caller ids and a TTL, "meta" with metadata and no messages.
func layout3(t *testing.T, c redis.UniversalClient, prefix string) {
	t.Helper()
	ctx := t.Context()
	body := func(m chat.Message) string {
		b, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	h, ids, meta := prefix+"{h}:", prefix+"{ids}:", prefix+"{meta}:"
	for _, err := range []error{
		c.RPush(ctx, h+"m", body(chat.User("zero")), "", body(chat.User("two, with ünïcode")), body(chat.Assistant(strings.Repeat("three ", 40)))).Err(),
		c.Set(ctx, h+"t", "0x01", 0).Err(),
		c.RPush(ctx, h+"c", 1000, 1001, 1002, 1003).Err(),
		c.HSet(ctx, h+"s", "c", 3, "n", 4, "v", 3, "cr", 1000, "up", 2000).Err(),

		c.RPush(ctx, ids+"m", body(chat.User("a question")), body(chat.Assistant("an answer"))).Err(),
		c.Set(ctx, ids+"t", "01", 0).Err(),
		c.RPush(ctx, ids+"c", 1000, 1001).Err(),
		c.RPush(ctx, ids+"d", "qa", "qb").Err(),
		c.HSet(ctx, ids+"i", "qa", 0, "qb", 1).Err(),
		c.HSet(ctx, ids+"s", "c", 2, "n", 2, "xp", 0, "v", 3, "cr", 1000, "up", 1001).Err(),

		c.HSet(ctx, meta+"g", "user", "u1").Err(),
		c.HSet(ctx, meta+"s", "c", 0, "n", 0, "v", 3, "cr", 1000, "up", 1000).Err(),
		c.ZAdd(ctx, prefix+"histories", redis.Z{Member: "h"}, redis.Z{Member: "ids"}, redis.Z{Member: "meta"}).Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"s", "m", "t", "c", "d", "i"} {
		if err := c.Expire(ctx, ids+k, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpgradeLayout3: histories of the release before costs get, when the
// store opens (Prepare), each message's cost as the counter measures it
// from the stored JSON and their sum, keep their TTL, and the counter is
// recorded; with no Prepare, each is measured when first used.
func TestUpgradeLayout3(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		histories := []string{"h", "ids", "meta"}
		t.Run("prepare", func(t *testing.T) {
			prefix := testPrefix()
			drv := driverOn(t, c, prefix, chatstore.TokenizerO200k, 0)
			layout3(t, c, prefix)
			if err := drv.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			if got := c.Get(ctx, prefix+"}tokenizer").Val(); got != chatstore.TokenizerO200k {
				t.Errorf("recorded tokenizer %q", got)
			}
			for _, id := range histories {
				checkCosts(t, c, prefix, drv, id, chatstore.TokenizerO200k)
			}
			if d := c.PTTL(ctx, prefix+"{ids}:w").Val(); d < 59*time.Minute || d > time.Hour {
				t.Errorf("the costs of a history with a TTL expire in %v", d)
			}
			st := storeOn(t, drv)
			if _, err := st.Write(ctx, "h", []chat.Message{chat.User("four")}); err != nil {
				t.Fatal(err)
			}
			checkCosts(t, c, prefix, drv, "h", chatstore.TokenizerO200k)
			page, err := st.List(ctx, chatstore.ListOptions{})
			if err != nil || len(page.Histories) != 3 {
				t.Errorf("list: %+v %v", page, err)
			}
		})
		t.Run("lazy", func(t *testing.T) {
			prefix := testPrefix()
			drv := driverOn(t, c, prefix, "", 0)
			layout3(t, c, prefix)
			if _, err := drv.Tail(ctx, "h", 1); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := drv.Info(ctx, "meta"); err != nil || !ok {
				t.Fatalf("info: %v %v", ok, err)
			}
			if infos, err := drv.Query(ctx, driver.Query{Prefix: "ids", Limit: 10}); err != nil || len(infos) != 1 {
				t.Fatalf("query: %+v %v", infos, err)
			}
			for _, id := range histories {
				checkCosts(t, c, prefix, drv, id, chatstore.TokenizerApprox)
			}
			if n := c.Exists(ctx, prefix+"}tokenizer").Val(); n != 0 {
				t.Error("the tokenizer is recorded with no Prepare")
			}
		})
	})
}
