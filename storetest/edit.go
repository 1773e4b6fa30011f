package storetest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// The conformance cases of driver.Editor: histories with metadata and
// times, messages addressed one at a time, truncation, forks, listings by
// recency and metadata. A driver without Editor must answer every one of
// these calls with ErrNotSupported, which testEditUnsupported checks.

// clock is a settable clock for Options.Now, so that times and the order
// of histories by recency are known.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) tick() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// editStore returns a store over a fresh driver with a test clock, or
// reports false (having checked it refuses every Editor call) when the
// driver lacks driver.Editor.
func (s suite) editStore(t *testing.T, c *clock) (*chatstore.Store, bool) {
	t.Helper()
	st := s.store(t, &chatstore.Options{KeepSystemMessages: true, Clock: c})
	if _, _, err := st.Info(ctx(t), "probe"); errors.Is(err, chatstore.ErrNotSupported) {
		s.checkUnsupported(t, st)
		return st, false
	} else if err != nil {
		t.Fatalf("Info: %v", err)
	}
	return st, true
}

func (s suite) checkUnsupported(t *testing.T, st *chatstore.Store) {
	t.Helper()
	write(t, st, "h", chat.User("x"))
	v := "v"
	for name, err := range map[string]error{
		"SetMetadata":   func() error { _, err := st.SetMetadata(ctx(t), "h", map[string]*string{"k": &v}); return err }(),
		"Message":       func() error { _, err := st.Message(ctx(t), "h", "0"); return err }(),
		"DeleteMessage": st.DeleteMessage(ctx(t), "h", "0"),
		"Truncate":      func() error { _, err := st.Truncate(ctx(t), "h", "0"); return err }(),
		"Fork":          func() error { _, err := st.Fork(ctx(t), "h", "f", ""); return err }(),
		"Read after":    func() error { _, err := st.Read(ctx(t), "h", chatstore.ReadOptions{After: "0", Limit: 1}); return err }(),
		"Read before":   func() error { _, err := st.Read(ctx(t), "h", chatstore.ReadOptions{Before: "0", Limit: 1}); return err }(),
		"List by recency": func() error {
			_, err := st.List(ctx(t), chatstore.ListOptions{Order: chatstore.ByUpdated})
			return err
		}(),
	} {
		if !errors.Is(err, chatstore.ErrNotSupported) {
			t.Errorf("%s on a driver without driver.Editor: %v, want ErrNotSupported", name, err)
		}
	}
}

func ptr(s string) *string { return &s }

func (s suite) testInfoAndMetadata(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	if info, ok, err := st.Info(ctx(t), "h"); err != nil || ok || info.ID != "h" || info.Count != 0 || !info.CreatedAt.IsZero() {
		t.Fatalf("unknown history: %+v %v %v", info, ok, err)
	}
	created := c.tick()
	write(t, st, "h", chat.User("q"), chat.Assistant("a"))
	info, ok, err := st.Info(ctx(t), "h")
	if err != nil || !ok || info.Count != 2 || !info.CreatedAt.Equal(created) || !info.UpdatedAt.Equal(created) || info.Metadata == nil || len(info.Metadata) != 0 {
		t.Fatalf("after a write: %+v %v %v", info, ok, err)
	}
	updated := c.tick()
	info, err = st.SetMetadata(ctx(t), "h", map[string]*string{"user_id": ptr("u-42"), "topic": ptr("billing")})
	if err != nil || !info.CreatedAt.Equal(created) || !info.UpdatedAt.Equal(updated) || info.Metadata["user_id"] != "u-42" || info.Count != 2 {
		t.Fatalf("SetMetadata: %+v %v", info, err)
	}
	c.tick()
	if info, err = st.SetMetadata(ctx(t), "h", map[string]*string{"topic": nil, "lang": ptr("de")}); err != nil ||
		len(info.Metadata) != 2 || info.Metadata["lang"] != "de" || info.Metadata["user_id"] != "u-42" {
		t.Fatalf("SetMetadata deleting a key: %+v %v", info, err)
	}
	// Limits: nothing changes when any is broken.
	tooMany := map[string]*string{}
	for i := range chatstore.MaxMetadataPairs - 1 {
		tooMany[fmt.Sprint("k", i)] = ptr("v")
	}
	for name, changes := range map[string]map[string]*string{
		"17 pairs":    tooMany,
		"long key":    {string(bytes.Repeat([]byte("k"), chatstore.MaxMetadataKeyLen+1)): ptr("v")},
		"empty key":   {"": ptr("v")},
		"long value":  {"k": ptr(string(bytes.Repeat([]byte("v"), chatstore.MaxMetadataValueLen+1)))},
		"bad UTF-8":   {"k": ptr("\xff")},
		"bad key UTF": {"\xff": ptr("v")},
	} {
		if _, err := st.SetMetadata(ctx(t), "h", changes); !errors.Is(err, chatstore.ErrInvalidMetadata) {
			t.Errorf("%s: %v, want ErrInvalidMetadata", name, err)
		}
	}
	if info, _, _ := st.Info(ctx(t), "h"); len(info.Metadata) != 2 {
		t.Errorf("a refused change changed the metadata: %v", info.Metadata)
	}
	// At the limit is fine: 16 pairs.
	delete(tooMany, "k0")
	if _, err := st.SetMetadata(ctx(t), "h", tooMany); err != nil {
		t.Errorf("16 pairs: %v", err)
	}
	// Metadata creates a history, with no messages, that exists and is
	// listed until deleted.
	at := c.tick()
	if info, err := st.SetMetadata(ctx(t), "new", map[string]*string{"user_id": ptr("u-1")}); err != nil || info.Count != 0 || !info.CreatedAt.Equal(at) {
		t.Fatalf("metadata on a new history: %+v %v", info, err)
	}
	if _, ok, _ := st.Info(ctx(t), "new"); !ok {
		t.Error("a history created by its metadata does not exist")
	}
	page, err := st.List(ctx(t), chatstore.ListOptions{})
	if err != nil || len(page.Histories) != 2 || page.Histories[1].ID != "new" || page.Histories[1].Metadata["user_id"] != "u-1" {
		t.Errorf("listing: %+v %v", page, err)
	}
	if err := st.Delete(ctx(t), "new"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Info(ctx(t), "new"); ok {
		t.Error("a deleted history exists")
	}
	// A write that stores nothing creates nothing.
	if n, err := st.Write(ctx(t), "none", []chat.Message{}); err != nil || n != 0 {
		t.Fatal(n, err)
	}
	if _, ok, _ := st.Info(ctx(t), "none"); ok {
		t.Error("a write of nothing created a history")
	}
}

func (s suite) testMessageTimes(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	t1 := c.tick()
	write(t, st, "h", chat.User("one"))
	t2 := c.tick()
	write(t, st, "h", chat.Assistant("two"))
	stored, err := st.ReadStored(ctx(t), "h", chatstore.ReadOptions{LastK: chatstore.All})
	if err != nil || len(stored) != 2 || !stored[0].CreatedAt.Equal(t1) || !stored[1].CreatedAt.Equal(t2) {
		t.Fatalf("ReadStored: %+v %v", stored, err)
	}
	// So does a read of the last rounds, which a driver may serve with
	// its tail read (driver.CompactionTailer), told that times are wanted.
	if r, err := st.ReadStored(ctx(t), "h", chatstore.ReadOptions{LastK: 1}); err != nil || len(r) != 2 || !r[0].CreatedAt.Equal(t1) || !r[1].CreatedAt.Equal(t2) {
		t.Errorf("ReadStored of the last round: %+v %v", r, err)
	}
	if b, _, err := st.AppendJSON(ctx(t), nil, "h", chatstore.ReadOptions{LastK: 1, CreatedAt: true}); err != nil || bytes.Count(b, []byte(`"created_at":"2026-12-01T12:00:0`)) != 2 {
		t.Errorf("AppendJSON of the last round, with times: %s %v", b, err)
	}
	// Restoring keeps a message's time; a zero time is the store's.
	old := time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	if n, err := st.WriteStored(ctx(t), "r", []chatstore.StoredMessage{{Message: chat.User("old"), CreatedAt: old}, {Message: chat.User("new")}}); err != nil || n != 2 {
		t.Fatalf("WriteStored: %d %v", n, err)
	}
	if r, err := st.ReadStored(ctx(t), "r", chatstore.ReadOptions{LastK: chatstore.All}); err != nil || len(r) != 2 || !r[0].CreatedAt.Equal(old) || !r[1].CreatedAt.Equal(t2) {
		t.Errorf("restored times: %+v %v", r, err)
	}
	// Asked for, the time is a member beside the message's; not asked
	// for, the answer is exactly what Haystack reads.
	plain, _, err := st.AppendJSON(ctx(t), nil, "h", chatstore.ReadOptions{LastK: chatstore.All})
	if err != nil || bytes.Contains(plain, []byte("created_at")) {
		t.Fatalf("without CreatedAt: %s %v", plain, err)
	}
	timed, _, err := st.AppendJSON(ctx(t), nil, "h", chatstore.ReadOptions{LastK: chatstore.All, CreatedAt: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(timed, &got); err != nil || len(got) != 2 || got[0]["created_at"] != "2026-12-01T12:00:01.000Z" || got[1]["created_at"] != "2026-12-01T12:00:02.000Z" {
		t.Fatalf("with CreatedAt: %s %v", timed, err)
	}
	delete(got[0], "created_at")
	var again []map[string]any
	_ = json.Unmarshal(plain, &again)
	if fmt.Sprint(got[0]) != fmt.Sprint(again[0]) {
		t.Errorf("the time changed the message: %v vs %v", got[0], again[0])
	}
}

func (s suite) testMessageByID(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	named := chat.User("named")
	named.Meta = map[string]any{chatstore.MessageIDKey: "m-1", "k": "v"}
	write(t, st, "h", chat.User("zero"), named, chat.Assistant("two"))
	for id, want := range map[string]string{"0": "zero", "m-1": "named", "1": "two"} {
		m, err := st.Message(ctx(t), "h", id)
		if err != nil {
			t.Fatalf("Message(%q): %v", id, err)
		}
		if text, _ := m.Message.Text(); text != want || m.Message.Meta[chatstore.MessageIDKey] != id || m.CreatedAt.IsZero() {
			t.Errorf("Message(%q) = %q %v", id, text, m.Message.Meta)
		}
	}
	if m, _ := st.Message(ctx(t), "h", "m-1"); m.Message.Meta["k"] != "v" {
		t.Errorf("meta lost: %v", m.Message.Meta)
	}
	for _, id := range []string{"2", "x", "00"} {
		if _, err := st.Message(ctx(t), "h", id); !errors.Is(err, chatstore.ErrNotFound) {
			t.Errorf("Message(%q): %v, want ErrNotFound", id, err)
		}
	}
	if _, err := st.Message(ctx(t), "unknown", "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("Message of an unknown history: %v", err)
	}
	if _, err := st.Message(ctx(t), "h", ""); !errors.Is(err, chatstore.ErrInvalidMessageID) {
		t.Errorf("Message(\"\"): %v", err)
	}
}

// remaining is the messages left, as tags, after removing some of a
// conversation's.
func (s suite) testDeleteMessage(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	msgs := []chat.Message{makeMessage(kUser, "u0"), makeMessage(kClose, "a0"), makeMessage(kUser, "u1"), makeMessage(kCall, "c1"), makeMessage(kResult, "r1"), makeMessage(kClose, "a1")}
	write(t, st, "h", msgs...)
	c.tick()
	// Remove the answer that closed round 0: u0 joins round 1.
	if err := st.DeleteMessage(ctx(t), "h", "1"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, "h"); n != 5 {
		t.Errorf("count %d after a delete, want 5", n)
	}
	if got := tags(retrieve(t, st, "h", 1)); !slices.Equal(got, []string{"u0", "u1", "c1", "r1", "a1"}) {
		t.Errorf("last round after deleting the answer that closed the one before: %v", got)
	}
	if got := ids(retrieve(t, st, "h", chatstore.All)); !slices.Equal(got, []string{"0", "2", "3", "4", "5"}) {
		t.Errorf("ids after a delete: %v", got)
	}
	if err := st.DeleteMessage(ctx(t), "h", "1"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("deleting it again: %v", err)
	}
	// Deleting the newest message never frees its generated id.
	if err := st.DeleteMessage(ctx(t), "h", "5"); err != nil {
		t.Fatal(err)
	}
	write(t, st, "h", chat.Assistant("new"))
	if got := ids(retrieve(t, st, "h", chatstore.All)); !slices.Equal(got, []string{"0", "2", "3", "4", "6"}) {
		t.Errorf("a generated id was reused: %v", got)
	}
	// A caller's id that was deleted can be written again.
	named := chat.User("named")
	named.Meta = map[string]any{chatstore.MessageIDKey: "x"}
	write(t, st, "h", named)
	if err := st.DeleteMessage(ctx(t), "h", "x"); err != nil {
		t.Fatal(err)
	}
	if n := write(t, st, "h", named); n != 1 {
		t.Errorf("writing a deleted caller id again wrote %d", n)
	}
	if info, _, _ := st.Info(ctx(t), "h"); info.Count != 6 || !info.UpdatedAt.Equal(c.Now()) {
		t.Errorf("info after deletes: %+v", info)
	}
	if err := st.DeleteMessage(ctx(t), "unknown", "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("deleting from an unknown history: %v", err)
	}
}

func (s suite) testTruncate(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	write(t, st, "h", makeMessage(kUser, "u0"), makeMessage(kClose, "a0"), makeMessage(kUser, "u1"), makeMessage(kClose, "a1"), makeMessage(kUser, "u2"))
	if err := st.DeleteMessage(ctx(t), "h", "3"); err != nil {
		t.Fatal(err)
	}
	n, err := st.Truncate(ctx(t), "h", "2")
	if err != nil || n != 2 {
		t.Fatalf("Truncate from 2: %d %v, want 2 (3 was deleted already)", n, err)
	}
	if got := tags(retrieve(t, st, "h", chatstore.All)); !slices.Equal(got, []string{"u0", "a0"}) {
		t.Errorf("after truncating: %v", got)
	}
	// Edit and regenerate: new messages get new ids.
	write(t, st, "h", makeMessage(kUser, "u1'"), makeMessage(kClose, "a1'"))
	if got := ids(retrieve(t, st, "h", chatstore.All)); !slices.Equal(got, []string{"0", "1", "5", "6"}) {
		t.Errorf("ids after truncating and writing: %v", got)
	}
	if got := tags(retrieve(t, st, "h", 1)); !slices.Equal(got, []string{"u1'", "a1'"}) {
		t.Errorf("last round: %v", got)
	}
	if _, err := st.Truncate(ctx(t), "h", "2"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("truncating from a removed message: %v", err)
	}
	if n, err := st.Truncate(ctx(t), "h", "0"); err != nil || n != 4 || count(t, st, "h") != 0 {
		t.Errorf("truncating everything: %d %v", n, err)
	}
	if _, ok, _ := st.Info(ctx(t), "h"); !ok {
		t.Error("a history truncated to nothing stops existing; it is still there, empty")
	}
}

func (s suite) testPaging(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	var msgs []chat.Message
	for i := range 30 {
		msgs = append(msgs, chat.User(fmt.Sprint("m", i)))
	}
	write(t, st, "h", msgs...)
	for _, id := range []string{"3", "4", "10", "29"} {
		if err := st.DeleteMessage(ctx(t), "h", id); err != nil {
			t.Fatal(err)
		}
	}
	all := texts(retrieve(t, st, "h", chatstore.All))
	// By cursor.
	var got []string
	after := ""
	for {
		page, err := st.Read(ctx(t), "h", chatstore.ReadOptions{After: after, Limit: 7})
		if after == "" {
			page, err = st.Read(ctx(t), "h", chatstore.ReadOptions{Offset: 0, Limit: 7})
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, texts(page)...)
		if len(page) < 7 {
			break
		}
		after = ids(page)[len(page)-1]
	}
	if !slices.Equal(got, all) {
		t.Errorf("paging by cursor:\n got %v\nwant %v", got, all)
	}
	// By offset: the offset-th message left.
	for _, off := range []int{0, 3, 7, 25, 26, 40} {
		page, err := st.Read(ctx(t), "h", chatstore.ReadOptions{Offset: off, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		want := all[min(off, len(all)):min(off+3, len(all))]
		if got := texts(page); !slices.Equal(got, want) {
			t.Errorf("offset %d: %v, want %v", off, got, want)
		}
	}
	if _, err := st.Read(ctx(t), "h", chatstore.ReadOptions{After: "3", Limit: 5}); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("after a deleted message: %v", err)
	}
	// Backwards by cursor, from the newest: the same messages, each page
	// oldest first.
	for _, limit := range []int{1, 7, 26, 100} {
		var pages [][]string
		page, err := st.Read(ctx(t), "h", chatstore.ReadOptions{Newest: true, Limit: limit})
		for err == nil && len(page) > 0 {
			pages = append(pages, texts(page))
			page, err = st.Read(ctx(t), "h", chatstore.ReadOptions{Before: ids(page)[0], Limit: limit})
		}
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(pages)
		if got := slices.Concat(pages...); !slices.Equal(got, all) {
			t.Errorf("paging backwards by %d:\n got %v\nwant %v", limit, got, all)
		}
	}
	if got, err := st.Read(ctx(t), "h", chatstore.ReadOptions{Before: "0", Limit: 5}); err != nil || len(got) != 0 {
		t.Errorf("before the first message: %v %v", texts(got), err)
	}
	if _, err := st.Read(ctx(t), "h", chatstore.ReadOptions{Before: "4", Limit: 5}); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("before a deleted message: %v", err)
	}
	// Long histories: backwards reads that step over many deleted
	// messages (a backend may read positions in chunks), and a byte bound.
	var long []chat.Message
	for i := range 700 {
		long = append(long, chat.User(fmt.Sprint("l", i)))
	}
	write(t, st, "long", long...)
	for i := 100; i < 650; i++ {
		if i != 300 {
			if err := st.DeleteMessage(ctx(t), "long", strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	page, err := st.Read(ctx(t), "long", chatstore.ReadOptions{Newest: true, Limit: 52})
	if want := append([]string{"l99", "l300"}, texts(long[650:])...); err != nil || !slices.Equal(texts(page), want) {
		t.Errorf("the newest 52 of a history with gaps: %v %v, want %v", texts(page), err, want)
	}
	page, err = st.Read(ctx(t), "long", chatstore.ReadOptions{Before: "300", Limit: 3})
	if err != nil || !slices.Equal(texts(page), []string{"l97", "l98", "l99"}) {
		t.Errorf("the 3 before l300: %v %v", texts(page), err)
	}
	if _, err := st.Read(ctx(t), "long", chatstore.ReadOptions{Newest: true, Limit: 52, MaxBytes: 200}); !errors.Is(err, chatstore.ErrTooLarge) {
		t.Errorf("the newest 52 within 200 bytes: %v, want ErrTooLarge", err)
	}
}

func (s suite) testFork(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	named := makeMessage(kUser, "u1")
	named.Meta[chatstore.MessageIDKey] = "q1"
	write(t, st, "h", makeMessage(kUser, "u0"), makeMessage(kClose, "a0"), named, makeMessage(kClose, "a1"))
	if _, err := st.SetMetadata(ctx(t), "h", map[string]*string{"user_id": ptr("u-42")}); err != nil {
		t.Fatal(err)
	}
	at := c.tick()
	info, err := st.Fork(ctx(t), "h", "f", "q1")
	if err != nil || info.ID != "f" || info.Count != 3 || info.Metadata["user_id"] != "u-42" || !info.CreatedAt.Equal(at) {
		t.Fatalf("Fork through q1: %+v %v", info, err)
	}
	if got := ids(retrieve(t, st, "f", chatstore.All)); !slices.Equal(got, []string{"0", "1", "q1"}) {
		t.Errorf("fork's ids: %v", got)
	}
	// The fork is a history of its own: writing to it changes neither, and
	// its generated ids never equal one it holds.
	write(t, st, "f", makeMessage(kClose, "b1"))
	if got := ids(retrieve(t, st, "f", chatstore.All)); len(got) != 4 || slices.Contains(got[:3], got[3]) {
		t.Errorf("fork after a write: %v", got)
	}
	if n := count(t, st, "h"); n != 4 {
		t.Errorf("the original has %d messages", n)
	}
	if got := tags(retrieve(t, st, "f", 1)); !slices.Equal(got, []string{"u1", "b1"}) {
		t.Errorf("fork's last round: %v", got)
	}
	if _, err := st.Fork(ctx(t), "h", "f", ""); !errors.Is(err, chatstore.ErrExists) {
		t.Errorf("forking onto an existing history: %v", err)
	}
	if _, err := st.Fork(ctx(t), "h", "g", "nope"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("forking through an unknown message: %v", err)
	}
	if _, ok, _ := st.Info(ctx(t), "g"); ok {
		t.Error("a failed fork created its history")
	}
	info, err = st.Fork(ctx(t), "h", "all", "")
	if err != nil || info.Count != 4 {
		t.Fatalf("fork of everything: %+v %v", info, err)
	}
	stored, _ := st.ReadStored(ctx(t), "all", chatstore.ReadOptions{LastK: chatstore.All})
	orig, _ := st.ReadStored(ctx(t), "h", chatstore.ReadOptions{LastK: chatstore.All})
	for i := range orig {
		if !stored[i].CreatedAt.Equal(orig[i].CreatedAt) {
			t.Errorf("message %d's time changed in the fork: %v vs %v", i, stored[i].CreatedAt, orig[i].CreatedAt)
		}
	}
}

func (s suite) testListByRecencyAndMetadata(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	users := []string{"u-1", "u-2", "u-1", "u-3", "u-1", "u-2", "u-1"}
	for i, u := range users {
		c.tick()
		id := fmt.Sprint("h", i)
		write(t, st, id, chat.User("hi"))
		if _, err := st.SetMetadata(ctx(t), id, map[string]*string{"user_id": ptr(u), "n": ptr(strconv.Itoa(i % 2))}); err != nil {
			t.Fatal(err)
		}
	}
	c.tick()
	write(t, st, "h0", chat.Assistant("later")) // now the most recent
	if got := listAll(t, st, chatstore.ListOptions{Order: chatstore.ByUpdated, Limit: 2}); !slices.Equal(got, []string{"h0", "h6", "h5", "h4", "h3", "h2", "h1"}) {
		t.Errorf("by recency: %v", got)
	}
	if got := listAll(t, st, chatstore.ListOptions{Order: chatstore.ByUpdated, Limit: 1, Metadata: map[string]string{"user_id": "u-1"}}); !slices.Equal(got, []string{"h0", "h6", "h4", "h2"}) {
		t.Errorf("u-1 by recency: %v", got)
	}
	if got := listAll(t, st, chatstore.ListOptions{Limit: 3, Metadata: map[string]string{"user_id": "u-1", "n": "0"}}); !slices.Equal(got, []string{"h0", "h2", "h4", "h6"}) {
		t.Errorf("u-1 and n=0 by id: %v", got)
	}
	if got := listAll(t, st, chatstore.ListOptions{Metadata: map[string]string{"user_id": "u-9"}}); len(got) != 0 {
		t.Errorf("nobody's: %v", got)
	}
	// Views see only their own, filtered or not.
	v := chatstore.Prefixed(st, "t:")
	write(t, v, "x", chat.User("hi"))
	if _, err := v.SetMetadata(ctx(t), "x", map[string]*string{"user_id": ptr("u-1")}); err != nil {
		t.Fatal(err)
	}
	page, err := v.List(ctx(t), chatstore.ListOptions{Order: chatstore.ByUpdated, Metadata: map[string]string{"user_id": "u-1"}})
	if err != nil || len(page.Histories) != 1 || page.Histories[0].ID != "x" {
		t.Errorf("a view's filtered list: %+v %v", page, err)
	}
	if got := listAll(t, st, chatstore.ListOptions{Metadata: map[string]string{"user_id": "u-1"}}); !slices.Equal(got, []string{"h0", "h2", "h4", "h6", "t:x"}) {
		t.Errorf("the whole store's: %v", got)
	}
	if _, err := st.List(ctx(t), chatstore.ListOptions{Order: chatstore.ByUpdated, Cursor: "h1.eA"}); !errors.Is(err, chatstore.ErrInvalidCursor) {
		t.Errorf("an id cursor in a list by recency: %v", err)
	}
}

// testListByRecencyWithinASecond: histories changed milliseconds apart,
// many times each, within one second and across seconds, list by recency
// in the exact order of their last changes (ties by id), page after page,
// with and without a metadata filter. Drivers may index recency in coarse
// steps (driver.RecencyShift) and leave their index alone while a
// history's step is unchanged; the order must not show it.
func (s suite) testListByRecencyWithinASecond(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	// Start at a step's first millisecond, so that the steps are known.
	step := driver.RecencyStep
	start := c.Now().Truncate(time.Millisecond)
	c.advance(step - time.Duration(start.UnixMilli()%int64(step/time.Millisecond))*time.Millisecond)
	base := c.Now()
	last := map[string]time.Time{}
	at := func(d time.Duration) { c.set(base.Add(d)) }
	change := func(id string, meta bool) {
		t.Helper()
		if meta {
			if _, err := st.SetMetadata(ctx(t), id, map[string]*string{"team": ptr("blue")}); err != nil {
				t.Fatal(err)
			}
		} else {
			write(t, st, id, chat.User("hi"))
		}
		last[id] = c.Now()
	}
	// More histories in one step than a listing reads at a time, each
	// created, then changed again in another order, later in the step.
	const n = 70
	for i := range n {
		at(time.Duration(i) * time.Millisecond)
		change(fmt.Sprintf("s%02d", i), i%3 == 0)
	}
	for j := range n {
		at(time.Duration(100+j) * time.Millisecond)
		change(fmt.Sprintf("s%02d", j*37%n), false)
	}
	at(200 * time.Millisecond) // two at once: by id
	change("t2", false)
	change("t1", true)
	at(step + 3*time.Millisecond) // the next step
	change("x", false)
	at(step + 10*time.Millisecond)
	change("s05", false)
	change("s06", true)
	at(2*step + 1*time.Millisecond)
	change("y", false)
	at(2*step + 2*time.Millisecond)
	change("s00", false)

	want := slices.Collect(maps.Keys(last))
	slices.SortFunc(want, func(a, b string) int {
		return cmp.Or(last[b].Compare(last[a]), strings.Compare(a, b))
	})
	var blue []string
	for _, id := range want {
		if m, _ := strconv.Atoi(strings.TrimPrefix(id, "s")); strings.HasPrefix(id, "s") && m%3 == 0 || id == "t1" || id == "s06" {
			blue = append(blue, id)
		}
	}
	for _, limit := range []int{1, 3, 7, 64, 100} {
		for _, filter := range []map[string]string{nil, {"team": "blue"}} {
			var got []string
			for _, h := range listInfos(t, st, chatstore.ListOptions{Order: chatstore.ByUpdated, Limit: limit, Metadata: filter}) {
				got = append(got, h.ID)
				if !h.UpdatedAt.Equal(last[h.ID]) {
					t.Errorf("%s: updated %v, want %v", h.ID, h.UpdatedAt, last[h.ID])
				}
			}
			exp := want
			if filter != nil {
				exp = blue
			}
			if !slices.Equal(got, exp) {
				t.Errorf("limit %d, filter %v:\n got %v\nwant %v", limit, filter, got, exp)
			}
		}
	}
}

// testListByRecencyNotMovedByNoOps: a write that stores nothing (every
// message's id held already) and a replay of an idempotent write change no
// history, so they move none in a listing by recency, nor its time; a
// write that stores a message does. Each a step (driver.RecencyShift) or
// more apart, so that a driver that lists a history before its write's
// outcome is known would show it.
func (s suite) testListByRecencyNotMovedByNoOps(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	step := driver.RecencyStep
	known := chat.User("hello")
	known.Meta = map[string]any{chatstore.MessageIDKey: "m-1"}
	if _, _, err := st.WriteIdempotent(ctx(t), "a", "key-1", []chat.Message{known}); err != nil {
		t.Fatal(err)
	}
	write(t, st, "c", chat.User("hi"))
	c.advance(4 * step)
	write(t, st, "b", chat.User("hi"))
	c.advance(4 * step)
	if _, replayed, err := st.WriteIdempotent(ctx(t), "a", "key-1", []chat.Message{known}); err != nil || !replayed {
		t.Fatalf("the replay: replayed %v, %v", replayed, err)
	}
	c.advance(4 * step)
	if n := write(t, st, "c", known, known); n != 1 {
		t.Fatalf("the write to c stored %d messages, want 1 (the second has the first's id)", n)
	}
	c.advance(4 * step)
	if n := write(t, st, "a", known); n != 0 {
		t.Fatalf("a write of a message a holds stored %d", n)
	}
	infos := listInfos(t, st, chatstore.ListOptions{Order: chatstore.ByUpdated, Limit: 1})
	var got []string
	for _, h := range infos {
		got = append(got, h.ID)
	}
	if want := []string{"c", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("by recency %v, want %v", got, want)
	}
	if len(infos) == 3 && !infos[2].UpdatedAt.Before(infos[1].UpdatedAt) {
		t.Errorf("a updated at %v, after b's %v", infos[2].UpdatedAt, infos[1].UpdatedAt)
	}
}

// testRemovalModel: random conversations lose random messages (deleted one
// by one, or truncated); every last_k is then the one of the messages left,
// as if the others had never been written.
func (s suite) testRemovalModel(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := range 10 {
		id := fmt.Sprint("h", iter)
		n := 10 + rng.IntN(30)
		kinds := make([]msgKind, n)
		var msgs []chat.Message
		for i := range kinds {
			kinds[i] = msgKind(rng.IntN(6))
			msgs = append(msgs, makeMessage(kinds[i], strconv.Itoa(i)))
		}
		write(t, st, id, msgs...)
		alive := make([]int, n) // message indexes left
		for i := range alive {
			alive[i] = i
		}
		for range 1 + rng.IntN(6) {
			j := rng.IntN(len(alive))
			if rng.IntN(4) == 0 {
				if _, err := st.Truncate(ctx(t), id, strconv.Itoa(alive[j])); err != nil {
					t.Fatal(err)
				}
				alive = alive[:j]
			} else {
				if err := st.DeleteMessage(ctx(t), id, strconv.Itoa(alive[j])); err != nil {
					t.Fatal(err)
				}
				alive = slices.Delete(alive, j, j+1)
			}
			if len(alive) == 0 {
				break
			}
		}
		left := make([]msgKind, len(alive))
		for i, a := range alive {
			left[i] = kinds[a]
		}
		for _, k := range []int{1, 2, 3, 5, 100} {
			var want []string
			for _, i := range goLastK(left, k) {
				want = append(want, strconv.Itoa(alive[i]))
			}
			if got := tags(retrieve(t, st, id, k)); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("kinds %v, left %v, last_k %d: got %v, want %v", kinds, alive, k, got, want)
			}
		}
	}
}

// testEditConcurrent: deletes, truncations and forks racing with writes to
// the same history keep ids unique and counts right.
func (s suite) testEditConcurrent(t *testing.T) {
	c := newClock()
	st, ok := s.editStore(t, c)
	if !ok {
		return
	}
	write(t, st, "h", chat.User("seed"))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if _, err := st.Write(ctx(t), "h", []chat.Message{chat.User(fmt.Sprint(w, "-", i))}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			msgs, err := st.RetrieveLast(ctx(t), "h", 1)
			if err != nil {
				errs <- err
				return
			}
			if len(msgs) > 2 {
				id := msgs[len(msgs)/2].Meta[chatstore.MessageIDKey].(string)
				if err := st.DeleteMessage(ctx(t), "h", id); err != nil && !errors.Is(err, chatstore.ErrNotFound) {
					errs <- err
					return
				}
			}
			if _, err := st.Fork(ctx(t), "h", fmt.Sprint("f", i), ""); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := retrieve(t, st, "h", chatstore.All)
	if got := ids(all); len(got) != count(t, st, "h") {
		t.Errorf("%d messages read, count %d", len(got), count(t, st, "h"))
	}
	seen := map[string]bool{}
	for _, id := range ids(all) {
		if seen[id] {
			t.Fatalf("id %q twice", id)
		}
		seen[id] = true
	}
	// Every fork is a whole prefix... of some state: its ids unique too.
	for i := range 20 {
		f := ids(retrieve(t, st, fmt.Sprint("f", i), chatstore.All))
		if len(f) == 0 || len(slices.Compact(slices.Sorted(slices.Values(f)))) != len(f) {
			t.Errorf("fork %d: %v", i, f)
		}
	}
}
