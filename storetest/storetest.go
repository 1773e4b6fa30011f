// Package storetest is the conformance suite every chatstore backend runs
// unchanged, in the manner of Go CDK's drivertest and log/slog's slogtest.
//
// A backend's test calls Run with a function that returns a new, empty,
// isolated driver (its own schema or key prefix) and registers its cleanup
// with t.Cleanup. Each behaviour is a subtest on a driver of its own, so
// subtests run in parallel against one shared server safely.
package storetest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	"github.com/chatstore/chatstore/internal/jsontest"
)

// NewDriver returns a new, empty driver isolated from every other one it
// returned, and arranges for its cleanup with t.Cleanup.
type NewDriver func(t *testing.T) driver.Store

// Run runs the conformance suite.
func Run(t *testing.T, newDriver NewDriver) {
	s := suite{newDriver: newDriver}
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"HaystackRounds", s.testHaystackRounds},
		{"RoundsModel", s.testRoundsModel},
		{"RoundsAcrossWrites", s.testRoundsAcrossWrites},
		{"LongRounds", s.testLongRounds},
		{"IDs", s.testIDs},
		{"Dedupe", s.testDedupe},
		{"GeneratedIDsNeverCollide", s.testGeneratedIDsNeverCollide},
		{"CallerIDsThatArePositions", s.testCallerIDsThatArePositions},
		{"DuplicateIDsInOneWrite", s.testDuplicateIDsInOneWrite},
		{"NullAndInvalidIDs", s.testNullAndInvalidIDs},
		{"SkipSystemMessages", s.testSkipSystemMessages},
		{"LastK", s.testLastK},
		{"AllPartTypes", s.testAllPartTypes},
		{"AppendJSON", s.testAppendJSON},
		{"ReadMaxBytes", s.testReadMaxBytes},
		{"Range", s.testRange},
		{"HistoryIsolation", s.testHistoryIsolation},
		{"Delete", s.testDelete},
		{"DeleteAll", s.testDeleteAll},
		{"DeletePrefix", s.testDeletePrefix},
		{"List", s.testList},
		{"ListPrefix", s.testListPrefix},
		{"Prefixed", s.testPrefixed},
		{"InvalidHistoryIDs", s.testInvalidHistoryIDs},
		{"InvalidMessagesWriteNothing", s.testInvalidMessagesWriteNothing},
		{"TooManyMessages", s.testTooManyMessages},
		{"ContextCanceled", s.testContextCanceled},
		{"Closed", s.testClosed},
		{"MutationAfterWrite", s.testMutationAfterWrite},
		{"MutationAfterRetrieve", s.testMutationAfterRetrieve},
		{"ConcurrentWritersOneHistory", s.testConcurrentOneHistory},
		{"ConcurrentWritersManyHistories", s.testConcurrentManyHistories},
		{"Ping", s.testPing},
		{"Idempotency", s.testIdempotency},
		{"IdempotencyExpiry", s.testIdempotencyExpiry},
		{"IdempotencyConcurrent", s.testIdempotencyConcurrent},
		{"InfoAndMetadata", s.testInfoAndMetadata},
		{"MessageTimes", s.testMessageTimes},
		{"MessageByID", s.testMessageByID},
		{"DeleteMessage", s.testDeleteMessage},
		{"Truncate", s.testTruncate},
		{"Paging", s.testPaging},
		{"Fork", s.testFork},
		{"ListByRecencyAndMetadata", s.testListByRecencyAndMetadata},
		{"ListByRecencyWithinASecond", s.testListByRecencyWithinASecond},
		{"ListByRecencyNotMovedByNoOps", s.testListByRecencyNotMovedByNoOps},
		{"RemovalModel", s.testRemovalModel},
		{"EditConcurrent", s.testEditConcurrent},
		{"Search", s.testSearch},
		{"SearchTenants", s.testSearchTenants},
		{"SearchLongWords", s.testSearchLongWords},
		{"BareTail", s.testBareTail},
		{"SearchModel", s.testSearchModel},
		{"SearchProbePagingAcrossUnrelatedWrite", s.testSearchProbePagingAcrossUnrelatedWrite},
		{"SearchProbeTimeBounds", s.testSearchProbeTimeBounds},
		{"Tokens", s.testTokens},
		{"HaystackTokens", s.testHaystackTokens},
		{"BudgetModel", s.testBudgetModel},
		{"Compactions", s.testCompactions},
		{"CompactionLifecycle", s.testCompactionLifecycle},
		{"CompactionConcurrent", s.testCompactionConcurrent},
		{"Pruning", s.testPruning},
		{"Erase", s.testErase},
		{"Expiry", s.testExpiry},
		{"ExpiryDefaults", s.testExpiryDefaults},
		{"ExpirySweep", s.testExpirySweep},
		{"ExpiryRace", s.testExpiryRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t)
		})
	}
}

type suite struct {
	newDriver NewDriver
}

// store returns a Store over a fresh driver.
func (s suite) store(t *testing.T, opts *chatstore.Options) *chatstore.Store {
	t.Helper()
	st, err := chatstore.New(s.newDriver(t), opts)
	if err != nil {
		t.Fatalf("chatstore.New: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func ctx(t *testing.T) context.Context { return t.Context() }

func write(t *testing.T, st *chatstore.Store, id string, msgs ...chat.Message) int {
	t.Helper()
	n, err := st.Write(ctx(t), id, msgs)
	if err != nil {
		t.Fatalf("Write(%q): %v", id, err)
	}
	return n
}

func retrieve(t *testing.T, st *chatstore.Store, id string, lastK int) []chat.Message {
	t.Helper()
	msgs, err := st.RetrieveLast(ctx(t), id, lastK)
	if err != nil {
		t.Fatalf("RetrieveLast(%q, %d): %v", id, lastK, err)
	}
	return msgs
}

func count(t *testing.T, st *chatstore.Store, id string) int {
	t.Helper()
	n, err := st.Count(ctx(t), id)
	if err != nil {
		t.Fatalf("Count(%q): %v", id, err)
	}
	return n
}

func ids(msgs []chat.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i], _ = m.Meta[chatstore.MessageIDKey].(string)
	}
	return out
}

func texts(msgs []chat.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i], _ = m.Text()
		if out[i] == "" {
			if r, ok := m.ToolCallResult(); ok {
				out[i] = r.Result
			} else if c, ok := m.ToolCall(); ok {
				out[i] = "call:" + c.ToolName
			}
		}
	}
	return out
}

//go:embed testdata/haystack_rounds.json
var roundsJSON []byte

type roundsCase struct {
	Name               string              `json:"name"`
	Why                string              `json:"why"`
	SkipSystemMessages bool                `json:"skip_system_messages"`
	StoreLastK         *int                `json:"store_last_k"`
	Writes             [][]json.RawMessage `json:"writes"`
	Written            []int               `json:"written"`
	Count              int                 `json:"count"`
	Retrieve           []struct {
		LastK *int              `json:"last_k"`
		Want  []json.RawMessage `json:"want"`
		Error string            `json:"error"`
	} `json:"retrieve"`
	GoDiffers        string `json:"go_differs"`
	HaystackReorders bool   `json:"haystack_reorders"`
}

// testHaystackRounds replays the cases recorded from haystack-experimental's
// InMemoryChatMessageStore (storetest/testdata/haystack_rounds.json): the
// same writes must write as many messages, and each retrieve must return the
// same messages with the same ids. Where Haystack moves a system message in
// front of the round it was written in, the same messages must come back in
// the order they were written. Cases where chatstore deliberately differs are
// covered by the tests of those fixes instead.
func (s suite) testHaystackRounds(t *testing.T) {
	var cases []roundsCase
	if err := json.Unmarshal(roundsJSON, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if c.GoDiffers != "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			opts := &chatstore.Options{KeepSystemMessages: !c.SkipSystemMessages, LastK: chatstore.All}
			storeZero := c.StoreLastK != nil && *c.StoreLastK == 0
			if c.StoreLastK != nil && *c.StoreLastK > 0 {
				opts.LastK = *c.StoreLastK
			}
			st := s.store(t, opts)
			for i, w := range c.Writes {
				msgs := make([]chat.Message, len(w))
				for j, raw := range w {
					m, err := chat.Unmarshal(raw)
					if err != nil {
						t.Fatalf("fixture message: %v", err)
					}
					msgs[j] = m
				}
				if got := write(t, st, "h", msgs...); got != c.Written[i] {
					t.Errorf("write %d wrote %d, Haystack %d (%s)", i, got, c.Written[i], c.Why)
				}
			}
			if got := count(t, st, "h"); got != c.Count {
				t.Errorf("count = %d, Haystack %d", got, c.Count)
			}
			all := retrieve(t, st, "h", chatstore.All)
			for _, r := range c.Retrieve {
				var (
					got []chat.Message
					err error
				)
				switch {
				case r.LastK != nil:
					got, err = st.RetrieveLast(ctx(t), "h", *r.LastK)
				case storeZero:
					got, err = st.RetrieveLast(ctx(t), "h", 0)
				default:
					got, err = st.Retrieve(ctx(t), "h")
				}
				if r.Error != "" {
					if !errors.Is(err, chatstore.ErrInvalidLastK) {
						t.Errorf("last_k %v: err = %v, want ErrInvalidLastK (Haystack: %s)", r.LastK, err, r.Error)
					}
					continue
				}
				if err != nil {
					t.Fatalf("retrieve last_k %v: %v", r.LastK, err)
				}
				want := r.Want
				if c.HaystackReorders {
					want = inStoredOrder(t, want, all)
				}
				compareMessages(t, fmt.Sprintf("last_k %v (%s)", fmtLastK(r.LastK), c.Why), got, want)
			}
		})
	}
}

func fmtLastK(k *int) string {
	if k == nil {
		return "default"
	}
	return strconv.Itoa(*k)
}

// inStoredOrder sorts Haystack's result into the order the messages were
// stored, which is the order of all.
func inStoredOrder(t *testing.T, want []json.RawMessage, all []chat.Message) []json.RawMessage {
	t.Helper()
	pos := map[string]int{}
	for i, id := range ids(all) {
		pos[id] = i
	}
	out := slices.Clone(want)
	slices.SortStableFunc(out, func(a, b json.RawMessage) int {
		return pos[rawID(t, a)] - pos[rawID(t, b)]
	})
	return out
}

func rawID(t *testing.T, raw json.RawMessage) string {
	var m struct {
		Meta map[string]any `json:"meta"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	id, _ := m.Meta[chatstore.MessageIDKey].(string)
	return id
}

func compareMessages(t *testing.T, what string, got []chat.Message, want []json.RawMessage) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d messages %v, want %d", what, len(got), ids(got), len(want))
		return
	}
	for i := range got {
		b, err := got[i].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if d := jsontest.Diff(b, want[i]); d != "" {
			t.Errorf("%s: message %d:\n got  %s\n want %s\n %s", what, i, b, want[i], d)
		}
	}
}

// goLastK is driver.LastRounds over the kinds of roles: the one Go
// implementation of the round rule, which every backend must agree with
// (the Redis backend's Lua walk included). driver's own tests hold it to
// Haystack's grouping of rounds, and the recorded Haystack cases hold every
// backend to Haystack itself.
func goLastK(roles []msgKind, k int) []int {
	msgs := make([]driver.Message, len(roles))
	for i, r := range roles {
		msgs[i] = driver.Message{Pos: int64(i), Kind: chatstore.Classify(makeMessage(r, "t"))}
	}
	kept, err := driver.LastRounds(k, 0, driver.Backwards(msgs))
	if err != nil {
		panic(err)
	}
	var out []int
	for _, m := range kept {
		out = append(out, int(m.Pos))
	}
	return out
}

type msgKind int

const (
	kUser msgKind = iota
	kSystem
	kCall   // assistant calling a tool
	kResult // tool result
	kClose  // assistant answer with text
	kEmpty  // assistant with empty text
)

func makeMessage(kind msgKind, tag string) chat.Message {
	call := chat.ToolCall{ToolName: "t", ID: chat.Ptr("c-" + tag), Arguments: map[string]any{"tag": tag}}
	var m chat.Message
	switch kind {
	case kUser:
		m = chat.User(tag)
	case kSystem:
		m = chat.System(tag)
	case kCall:
		m = chat.Assistant("", call)
	case kResult:
		m = chat.Tool(tag, call, false)
	case kClose:
		m = chat.Assistant(tag)
	case kEmpty:
		m = chat.Assistant("")
	}
	return m.WithMeta("tag", tag)
}

func tags(msgs []chat.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i], _ = m.Meta["tag"].(string)
	}
	return out
}

// testRoundsModel writes random conversations in random batches and checks
// every last_k against driver.LastRounds (goLastK).
func (s suite) testRoundsModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 24 {
		st := s.store(t, &chatstore.Options{KeepSystemMessages: true})
		n := 5 + rng.IntN(40)
		kinds := make([]msgKind, n)
		msgs := make([]chat.Message, n)
		for i := range kinds {
			kinds[i] = msgKind(rng.IntN(6))
			msgs[i] = makeMessage(kinds[i], strconv.Itoa(i))
		}
		for i := 0; i < n; {
			j := min(n, i+1+rng.IntN(4))
			write(t, st, "h", msgs[i:j]...)
			i = j
		}
		for _, k := range []int{1, 2, 3, 5, 8, 13, 100, chatstore.All} {
			want := goLastK(kinds, k)
			got := tags(retrieve(t, st, "h", k))
			wantTags := make([]string, len(want))
			for i, idx := range want {
				wantTags[i] = strconv.Itoa(idx)
			}
			if !slices.Equal(got, wantTags) {
				t.Fatalf("iteration %d, kinds %v, last_k %d:\n got  %v\n want %v", iter, kinds, k, got, wantTags)
			}
		}
	}
}

// testRoundsAcrossWrites: a round opened in one write and closed in a later
// one, with a system message written while it was open.
func (s suite) testRoundsAcrossWrites(t *testing.T) {
	st := s.store(t, &chatstore.Options{KeepSystemMessages: true})
	write(t, st, "h", makeMessage(kUser, "u0"), makeMessage(kClose, "a0"))
	write(t, st, "h", makeMessage(kUser, "u1"), makeMessage(kCall, "c1"))
	write(t, st, "h", makeMessage(kSystem, "s1"))
	write(t, st, "h", makeMessage(kResult, "r1"))
	if got := tags(retrieve(t, st, "h", 1)); !slices.Equal(got, []string{"u1", "c1", "r1"}) {
		t.Errorf("open round: got %v", got)
	}
	write(t, st, "h", makeMessage(kClose, "a1"), makeMessage(kUser, "u2"))
	tests := []struct {
		k    int
		want []string
	}{
		{1, []string{"u2"}},
		{2, []string{"u1", "c1", "r1", "a1", "u2"}},
		{3, []string{"u1", "c1", "s1", "r1", "a1", "u2"}},
		{4, []string{"u0", "a0", "u1", "c1", "s1", "r1", "a1", "u2"}},
	}
	for _, tt := range tests {
		if got := tags(retrieve(t, st, "h", tt.k)); !slices.Equal(got, tt.want) {
			t.Errorf("last_k %d: got %v, want %v", tt.k, got, tt.want)
		}
	}
}

// testLongRounds: rounds of hundreds of messages (an agent calling tools
// for a long time) and many system messages, so that backends that read a
// history backwards in pages need more than one page.
func (s suite) testLongRounds(t *testing.T) {
	st := s.store(t, &chatstore.Options{KeepSystemMessages: true})
	var kinds []msgKind
	add := func(k msgKind) chat.Message {
		kinds = append(kinds, k)
		return makeMessage(k, strconv.Itoa(len(kinds)-1))
	}
	var first []chat.Message
	first = append(first, add(kUser))
	for i := range 300 {
		if i%50 == 25 {
			first = append(first, add(kSystem))
		}
		first = append(first, add(kCall), add(kResult))
	}
	first = append(first, add(kClose))
	write(t, st, "h", first...)
	for range 3 {
		write(t, st, "h", add(kUser), add(kClose))
	}
	long := []chat.Message{add(kUser)}
	for range 200 {
		long = append(long, add(kCall), add(kResult))
	}
	write(t, st, "h", long...) // left open
	for _, k := range []int{1, 2, 4, 5, 6, 12, chatstore.All} {
		want := goLastK(kinds, k)
		got := tags(retrieve(t, st, "h", k))
		if len(got) != len(want) {
			t.Fatalf("last_k %d: %d messages, want %d", k, len(got), len(want))
		}
		for i, idx := range want {
			if got[i] != strconv.Itoa(idx) {
				t.Fatalf("last_k %d: message %d is %s, want %d", k, i, got[i], idx)
			}
		}
	}
}

func (s suite) testIDs(t *testing.T) {
	st := s.store(t, nil)
	if n := write(t, st, "h", chat.User("a"), chat.Assistant("b")); n != 2 {
		t.Fatalf("wrote %d", n)
	}
	write(t, st, "h", chat.User("c").WithMeta("k", "v"))
	got := retrieve(t, st, "h", chatstore.All)
	if !slices.Equal(ids(got), []string{"0", "1", "2"}) {
		t.Fatalf("ids = %v, want 0 1 2", ids(got))
	}
	if got[2].Meta["k"] != "v" || len(got[2].Meta) != 2 {
		t.Errorf("meta = %v, want the caller's meta plus the id", got[2].Meta)
	}
	if c := count(t, st, "h"); c != 3 {
		t.Errorf("count = %d", c)
	}
	// Caller ids are kept, alone (backends may take another path for one
	// message) or among others; within a write the counter advances only
	// for messages without, and each write's starts at the message count,
	// as in Haystack.
	write(t, st, "h", chat.User("d").WithMeta(chatstore.MessageIDKey, "custom"))
	write(t, st, "h", chat.User("e").WithMeta(chatstore.MessageIDKey, "other"), chat.User("f"))
	write(t, st, "h", chat.User("g"))
	if got := ids(retrieve(t, st, "h", chatstore.All)); !slices.Equal(got, []string{"0", "1", "2", "custom", "other", "4", "6"}) {
		t.Errorf("ids = %v", got)
	}
}

func (s suite) testDedupe(t *testing.T) {
	st := s.store(t, nil)
	write(t, st, "h", chat.User("a"), chat.Assistant("b"), chat.User("c"))
	got := retrieve(t, st, "h", chatstore.All)
	if n := write(t, st, "h", got...); n != 0 {
		t.Errorf("rewriting retrieved messages wrote %d, want 0", n)
	}
	// Same id, other content: skipped too, as in Haystack.
	edited := got[1].WithMeta("edited", true)
	edited.Content = []chat.Part{chat.Text{Text: "changed"}}
	if n := write(t, st, "h", edited, chat.User("d")); n != 1 {
		t.Errorf("wrote %d, want 1 (only the new message)", n)
	}
	all := retrieve(t, st, "h", chatstore.All)
	if !slices.Equal(texts(all), []string{"a", "b", "c", "d"}) || !slices.Equal(ids(all), []string{"0", "1", "2", "3"}) {
		t.Errorf("history = %v %v", texts(all), ids(all))
	}
}

// Deliberate fix (1): generated ids skip ids already held or supplied by the
// same write, so no message is dropped.
func (s suite) testGeneratedIDsNeverCollide(t *testing.T) {
	st := s.store(t, nil)
	write(t, st, "h", chat.User("x").WithMeta(chatstore.MessageIDKey, "1"), chat.User("y").WithMeta(chatstore.MessageIDKey, "0"))
	if n := write(t, st, "h", chat.User("a"), chat.User("b")); n != 2 {
		t.Fatalf("wrote %d, want 2: a generated id collided with a caller's", n)
	}
	if n := write(t, st, "h", chat.User("c"), chat.User("d").WithMeta(chatstore.MessageIDKey, "5")); n != 2 {
		t.Fatalf("wrote %d, want 2", n)
	}
	all := retrieve(t, st, "h", chatstore.All)
	got := ids(all)
	if !slices.Equal(got, []string{"1", "0", "2", "3", "4", "5"}) {
		t.Errorf("ids = %v", got)
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("duplicate id %q in %v", id, got)
		}
		seen[id] = true
	}
	// A generated id also skips an id the same write supplies later on.
	st2 := s.store(t, nil)
	write(t, st2, "h", chat.User("a"), chat.User("b").WithMeta(chatstore.MessageIDKey, "0"))
	if got := ids(retrieve(t, st2, "h", chatstore.All)); !slices.Equal(got, []string{"1", "0"}) {
		t.Errorf("ids = %v, want [1 0]", got)
	}
}

// Caller ids that look like generated ones, some equal to the message's own
// position: they are held like any other id, and generated ids skip them.
func (s suite) testCallerIDsThatArePositions(t *testing.T) {
	st := s.store(t, nil)
	write(t, st, "h", chat.User("a").WithMeta(chatstore.MessageIDKey, "0"), chat.User("b").WithMeta(chatstore.MessageIDKey, "7"))
	if n := write(t, st, "h", chat.User("again").WithMeta(chatstore.MessageIDKey, "0"), chat.User("again").WithMeta(chatstore.MessageIDKey, "7")); n != 0 {
		t.Errorf("rewrote %d held ids", n)
	}
	write(t, st, "h", chat.User("c"), chat.User("d"), chat.User("e"), chat.User("f"), chat.User("g"), chat.User("h"))
	if got, want := ids(retrieve(t, st, "h", chatstore.All)), []string{"0", "7", "2", "3", "4", "5", "6", "8"}; !slices.Equal(got, want) {
		t.Errorf("ids %v, want %v", got, want)
	}
	if n := write(t, st, "h", chat.User("x").WithMeta(chatstore.MessageIDKey, "8"), chat.User("y").WithMeta(chatstore.MessageIDKey, "9")); n != 1 {
		t.Errorf("wrote %d, want 1 (8 is held, 9 is not)", n)
	}
}

// Deliberate fix (2): of messages supplying the same id in one write, only
// the first is written.
func (s suite) testDuplicateIDsInOneWrite(t *testing.T) {
	st := s.store(t, nil)
	n := write(t, st, "h", chat.User("first").WithMeta(chatstore.MessageIDKey, "x"), chat.User("second").WithMeta(chatstore.MessageIDKey, "x"), chat.User("third"))
	if n != 2 {
		t.Errorf("wrote %d, want 2", n)
	}
	if got := texts(retrieve(t, st, "h", chatstore.All)); !slices.Equal(got, []string{"first", "third"}) {
		t.Errorf("history = %v", got)
	}
}

// Deliberate fix (3): a null id is absent; a non-string id is an error.
func (s suite) testNullAndInvalidIDs(t *testing.T) {
	st := s.store(t, nil)
	write(t, st, "h", chat.User("a").WithMeta(chatstore.MessageIDKey, nil))
	if got := ids(retrieve(t, st, "h", chatstore.All)); !slices.Equal(got, []string{"0"}) {
		t.Errorf("ids = %v", got)
	}
	for _, bad := range []any{1, json.Number("1"), true, map[string]any{}, []any{"a"}, strings.Repeat("x", chatstore.MaxHistoryIDLen+1), "a\x00b", "\xff"} {
		_, err := st.Write(ctx(t), "h", []chat.Message{chat.User("b"), chat.User("c").WithMeta(chatstore.MessageIDKey, bad)})
		if !errors.Is(err, chatstore.ErrInvalidMessage) || !errors.Is(err, chat.ErrInvalidMessage) {
			t.Errorf("id %#v: err = %v, want ErrInvalidMessage", bad, err)
		} else if !strings.Contains(err.Error(), "messages[1]") || !strings.Contains(err.Error(), "chat_message_id") {
			t.Errorf("id %#v: error %q does not say which message and field", bad, err)
		}
	}
	if c := count(t, st, "h"); c != 1 {
		t.Errorf("count = %d after rejected writes, want 1", c)
	}
}

func (s suite) testSkipSystemMessages(t *testing.T) {
	msgs := []chat.Message{chat.System("sys"), chat.User("u"), chat.Assistant("a"), chat.System("sys2")}
	skip := s.store(t, nil)
	if n := write(t, skip, "h", msgs...); n != 2 {
		t.Errorf("skipping: wrote %d, want 2", n)
	}
	if got := texts(retrieve(t, skip, "h", chatstore.All)); !slices.Equal(got, []string{"u", "a"}) {
		t.Errorf("skipping: %v", got)
	}
	if n := write(t, skip, "h", chat.System("only")); n != 0 {
		t.Errorf("system-only write wrote %d", n)
	}
	keep := s.store(t, &chatstore.Options{KeepSystemMessages: true})
	if n := write(t, keep, "h", msgs...); n != 4 {
		t.Errorf("keeping: wrote %d, want 4", n)
	}
	got := retrieve(t, keep, "h", chatstore.All)
	if !slices.Equal(texts(got), []string{"sys", "u", "a", "sys2"}) || !slices.Equal(ids(got), []string{"0", "1", "2", "3"}) {
		t.Errorf("keeping: %v %v", texts(got), ids(got))
	}
	// A skipped system message takes no id.
	skip2 := s.store(t, nil)
	write(t, skip2, "h", chat.User("a"), chat.System("s"), chat.User("b"))
	if got := ids(retrieve(t, skip2, "h", chatstore.All)); !slices.Equal(got, []string{"0", "1"}) {
		t.Errorf("ids after skipped system = %v", got)
	}
}

func (s suite) testLastK(t *testing.T) {
	conv := []chat.Message{chat.User("u0"), chat.Assistant("a0"), chat.User("u1"), chat.Assistant("a1"), chat.User("u2"), chat.Assistant("a2")}
	st := s.store(t, &chatstore.Options{LastK: 2})
	write(t, st, "h", conv...)
	def, err := st.Retrieve(ctx(t), "h")
	if err != nil || !slices.Equal(texts(def), []string{"u1", "a1", "u2", "a2"}) {
		t.Errorf("default last_k 2: %v %v", texts(def), err)
	}
	if got := retrieve(t, st, "h", 0); got == nil || len(got) != 0 {
		t.Errorf("last_k 0: %v (want an empty, non-nil slice)", got)
	}
	if got := retrieve(t, st, "h", 1); !slices.Equal(texts(got), []string{"u2", "a2"}) {
		t.Errorf("last_k 1: %v", texts(got))
	}
	for _, k := range []int{3, 4, 1000, chatstore.All} {
		if got := retrieve(t, st, "h", k); len(got) != 6 {
			t.Errorf("last_k %d: %d messages, want all 6", k, len(got))
		}
	}
	for _, k := range []int{-1, -100} {
		if _, err := st.RetrieveLast(ctx(t), "h", k); !errors.Is(err, chatstore.ErrInvalidLastK) {
			t.Errorf("last_k %d: err = %v", k, err)
		}
	}
	if got := retrieve(t, st, "unknown", 5); got == nil || len(got) != 0 {
		t.Errorf("unknown history: %v", got)
	}
	defaults := s.store(t, nil)
	for i := range 12 {
		write(t, defaults, "h", chat.User(fmt.Sprint("u", i)), chat.Assistant(fmt.Sprint("a", i)))
	}
	if got, _ := defaults.Retrieve(ctx(t), "h"); len(got) != 20 || texts(got)[0] != "u2" {
		t.Errorf("default last_k 10: %d messages, first %v", len(got), texts(got)[:1])
	}
}

func (s suite) testAllPartTypes(t *testing.T) {
	st := s.store(t, &chatstore.Options{KeepSystemMessages: true})
	img, err := chat.NewImage("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=", "", "low")
	if err != nil {
		t.Fatal(err)
	}
	call := chat.ToolCall{ToolName: "search", Arguments: map[string]any{"q": "go", "n": json.Number("1180591620717411303424"), "f": json.Number("1.0"), "s": "<&>\u2028"}, ID: chat.Ptr("c1"), Extra: map[string]any{}}
	msgs := []chat.Message{
		chat.System("sys").WithName(""),
		{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "look"}, img, chat.File{Base64Data: "JVBERi0xLjQK", MimeType: "application/pdf", Filename: "a.pdf", Extra: map[string]any{"x": []any{json.Number("1"), nil}}}}, Name: chat.Ptr("bob")},
		chat.Assistant("", call).WithReasoning("think"),
		{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{chat.Text{Text: "r"}, img}, Origin: call, Error: true}}},
		chat.Assistant("done").WithMeta("usage", map[string]any{"tokens": json.Number("12")}),
	}
	write(t, st, "h", msgs...)
	got := retrieve(t, st, "h", chatstore.All)
	if len(got) != len(msgs) {
		t.Fatalf("got %d messages", len(got))
	}
	for i := range msgs {
		want := msgs[i].WithMeta(chatstore.MessageIDKey, strconv.Itoa(i))
		wb, _ := want.MarshalJSON()
		gb, _ := got[i].MarshalJSON()
		if string(wb) != string(gb) {
			t.Errorf("message %d changed in the store:\n got  %s\n want %s", i, gb, wb)
		}
	}
}

// testAppendJSON checks that the read path that skips decoding gives
// byte for byte the JSON of what RetrieveLast returns, whatever the meta
// holds around where chat_message_id goes.
func (s suite) testAppendJSON(t *testing.T) {
	st := s.store(t, nil)
	metas := []map[string]any{
		nil, {}, {"a": "1"}, {"z": "1"}, {"a": "1", "z": "2"}, {"chat_message_ic": true, "chat_message_idx": false},
		{"usage": map[string]any{"chat_message_id": "nested", "tokens": json.Number("3")}, "model": "m", "finish_reason": "stop"},
		{"ünï": "x", "\u2028": "y", "\"q\"": []any{}, "{": "}"}, {"": "empty key"},
	}
	var msgs []chat.Message
	for i, meta := range metas {
		m := chat.User(fmt.Sprint("u", i))
		m.Meta = meta
		if i%3 == 1 {
			m = m.WithMeta(chatstore.MessageIDKey, fmt.Sprintf("id \"%d\" ü", i))
		}
		msgs = append(msgs, m, chat.Assistant(fmt.Sprint("a", i)).WithMeta("usage", map[string]any{"n": json.Number("1")}))
	}
	write(t, st, "h", msgs...)
	for _, k := range []int{0, 1, 2, 5, chatstore.All} {
		want := []byte{'['}
		for i, m := range retrieve(t, st, "h", k) {
			if i > 0 {
				want = append(want, ',')
			}
			want, _ = m.AppendJSON(want)
		}
		want = append(want, ']')
		got, n, err := st.AppendJSON(ctx(t), []byte("prefix"), "h", chatstore.ReadOptions{LastK: k})
		if err != nil || string(got) != "prefix"+string(want) || n != len(retrieve(t, st, "h", k)) {
			t.Errorf("last_k %d: %d messages, %v\n got  %s\n want prefix%s", k, n, err, got, want)
		}
		var w bytes.Buffer
		if n, err := st.WriteJSON(ctx(t), &w, nil, "h", chatstore.ReadOptions{LastK: k}); err != nil || w.String() != string(want) || n != len(retrieve(t, st, "h", k)) {
			t.Errorf("WriteJSON, last_k %d: %d messages, %v\n got  %s\n want %s", k, n, err, w.Bytes(), want)
		}
	}
	if got, n, err := st.AppendJSON(ctx(t), nil, "unknown", chatstore.ReadOptions{LastK: chatstore.All}); err != nil || string(got) != "[]" || n != 0 {
		t.Errorf("unknown history: %s %d %v", got, n, err)
	}
	if _, _, err := st.AppendJSON(ctx(t), nil, "h", chatstore.ReadOptions{LastK: -1}); !errors.Is(err, chatstore.ErrInvalidLastK) {
		t.Errorf("last_k -1: %v", err)
	}
	if _, _, err := st.AppendJSON(ctx(t), nil, "", chatstore.ReadOptions{LastK: 1}); !errors.Is(err, chatstore.ErrInvalidHistoryID) {
		t.Errorf("empty id: %v", err)
	}
}

// testReadMaxBytes bounds reads by the size of what they select: a read
// at most the limit is answered whole, one over it fails with ErrTooLarge,
// whichever way it selects and whether or not it is decoded.
func (s suite) testReadMaxBytes(t *testing.T) {
	st := s.store(t, nil)
	big := strings.Repeat("x", 10_000)
	// One open round of 20 user messages: last_k=1 selects all of them.
	var msgs []chat.Message
	for range 20 {
		msgs = append(msgs, chat.User(big))
	}
	write(t, st, "h", msgs...)
	all, _, err := st.AppendJSON(ctx(t), nil, "h", chatstore.ReadOptions{LastK: 1})
	if err != nil {
		t.Fatal(err)
	}
	// WriteJSON writes the same bytes, in pieces.
	var w piecesWriter
	if n, err := st.WriteJSON(ctx(t), &w, nil, "h", chatstore.ReadOptions{LastK: 1}); err != nil || n != 20 || w.String() != string(all) {
		t.Errorf("WriteJSON: %d messages, %v; same bytes as AppendJSON: %v", n, err, w.String() == string(all))
	}
	if w.writes < 2 {
		t.Errorf("WriteJSON wrote %d bytes in %d piece(s), want several", w.Len(), w.writes)
	}
	if n, err := st.WriteJSON(ctx(t), &w, nil, "h", chatstore.ReadOptions{LastK: 1, MaxBytes: 15_000}); !errors.Is(err, chatstore.ErrTooLarge) || n != 0 {
		t.Errorf("WriteJSON over MaxBytes: %d, %v", n, err)
	}
	// The stored JSON is what the answer holds, less the ids and commas.
	size := len(all) - 2
	for _, o := range []chatstore.ReadOptions{{LastK: 1}, {LastK: chatstore.All}, {Offset: 0, Limit: 20}, {Offset: 5, Limit: 10}} {
		o.MaxBytes = 15_000 // more than one message, far less than the selection
		if _, _, err := st.AppendJSON(ctx(t), nil, "h", o); !errors.Is(err, chatstore.ErrTooLarge) {
			t.Errorf("AppendJSON(%+v): err = %v, want ErrTooLarge", o, err)
		}
		if _, err := st.Read(ctx(t), "h", o); !errors.Is(err, chatstore.ErrTooLarge) {
			t.Errorf("Read(%+v): err = %v, want ErrTooLarge", o, err)
		}
		o.MaxBytes = size
		if got, err := st.Read(ctx(t), "h", o); err != nil || len(got) == 0 {
			t.Errorf("Read(%+v) within the limit: %d messages, %v", o, len(got), err)
		}
	}
	if got, err := st.Read(ctx(t), "h", chatstore.ReadOptions{Offset: 19, Limit: 1, MaxBytes: 15_000}); err != nil || len(got) != 1 {
		t.Errorf("one message under the limit: %d messages, %v", len(got), err)
	}
}

// piecesWriter is a bytes.Buffer that counts its writes.
type piecesWriter struct {
	bytes.Buffer
	writes int
}

func (w *piecesWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// testRange pages through a history by position: every page is the slice
// of the whole history at that offset, with the same ids (generated ones,
// caller ones, and the positions after a caller id), system messages
// included, and the JSON path gives the same bytes.
func (s suite) testRange(t *testing.T) {
	st := s.store(t, &chatstore.Options{KeepSystemMessages: true})
	var msgs []chat.Message
	for i := range 23 {
		var m chat.Message
		switch {
		case i%7 == 3:
			m = chat.System(fmt.Sprint("s", i))
		case i%2 == 0:
			m = chat.User(fmt.Sprint("u", i))
		default:
			m = chat.Assistant(fmt.Sprint("a", i))
		}
		if i == 9 || i == 15 {
			m = m.WithMeta(chatstore.MessageIDKey, fmt.Sprint("caller-", i))
		}
		msgs = append(msgs, m)
	}
	write(t, st, "h", msgs[:5]...) // ids before a caller id are positions
	write(t, st, "h", msgs[5:]...)
	all := retrieve(t, st, "h", chatstore.All)
	if len(all) != 23 {
		t.Fatalf("%d messages", len(all))
	}
	for _, c := range []struct{ offset, limit int }{{0, 10}, {10, 10}, {20, 10}, {0, 23}, {0, 1000}, {9, 1}, {14, 3}, {22, 5}, {23, 5}, {100, 1}} {
		got, err := st.Range(ctx(t), "h", c.offset, c.limit)
		if err != nil {
			t.Fatalf("Range(%d, %d): %v", c.offset, c.limit, err)
		}
		want := all[min(c.offset, len(all)):min(c.offset+c.limit, len(all))]
		if !slices.Equal(texts(got), texts(want)) || !slices.Equal(ids(got), ids(want)) {
			t.Errorf("Range(%d, %d) = %v %v, want %v %v", c.offset, c.limit, texts(got), ids(got), texts(want), ids(want))
		}
		wantJSON := []byte{'['}
		for i, m := range want {
			if i > 0 {
				wantJSON = append(wantJSON, ',')
			}
			wantJSON, _ = m.AppendJSON(wantJSON)
		}
		wantJSON = append(wantJSON, ']')
		gotJSON, n, err := st.AppendJSON(ctx(t), nil, "h", chatstore.ReadOptions{Offset: c.offset, Limit: c.limit})
		if err != nil || n != len(want) || string(gotJSON) != string(wantJSON) {
			t.Errorf("AppendJSON(offset %d, limit %d): %d messages, %v\n got  %s\n want %s", c.offset, c.limit, n, err, gotJSON, wantJSON)
		}
	}
	// The newest messages, on every driver (with or without an Editor).
	for _, limit := range []int{1, 5, 23, 1000} {
		got, err := st.Read(ctx(t), "h", chatstore.ReadOptions{Newest: true, Limit: limit})
		want := all[max(0, len(all)-limit):]
		if err != nil || !slices.Equal(texts(got), texts(want)) || !slices.Equal(ids(got), ids(want)) {
			t.Errorf("Read(Newest, limit %d) = %v %v %v, want %v %v", limit, texts(got), ids(got), err, texts(want), ids(want))
		}
	}
	if got, err := st.Read(ctx(t), "unknown", chatstore.ReadOptions{Newest: true, Limit: 3}); err != nil || len(got) != 0 {
		t.Errorf("newest of an unknown history: %v %v", got, err)
	}
	for _, bad := range []chatstore.ReadOptions{
		{Newest: true},
		{Before: "1", LastK: 2},
		{Newest: true, Limit: 2, Offset: 1},
		{Newest: true, Limit: chatstore.MaxRangeLimit + 1},
		{Newest: true, Limit: 2, After: "0"},
		{Before: "1", Limit: 2, After: "0"},
	} {
		if _, err := st.Read(ctx(t), "h", bad); err == nil {
			t.Errorf("Read(%+v): no error", bad)
		} else if !errors.Is(err, chatstore.ErrInvalidRange) {
			t.Errorf("Read(%+v): %v, want ErrInvalidRange", bad, err)
		}
	}
	if got, err := st.Range(ctx(t), "unknown", 0, 10); err != nil || len(got) != 0 {
		t.Errorf("unknown history: %v %v", got, err)
	}
	for _, bad := range [][2]int{{-1, 10}, {0, 0}, {0, -1}, {0, chatstore.MaxRangeLimit + 1}} {
		if _, err := st.Range(ctx(t), "h", bad[0], bad[1]); !errors.Is(err, chatstore.ErrInvalidRange) {
			t.Errorf("Range(%d, %d): %v, want ErrInvalidRange", bad[0], bad[1], err)
		}
	}
	if _, err := st.Range(ctx(t), "", 0, 1); !errors.Is(err, chatstore.ErrInvalidHistoryID) {
		t.Errorf("empty id: %v", err)
	}
	if got, err := st.Range(ctx(t), "h", math.MaxInt-1, 10); err != nil || len(got) != 0 {
		t.Errorf("offset near MaxInt: %v %v", got, err)
	}
}

func (s suite) testHistoryIsolation(t *testing.T) {
	st := s.store(t, nil)
	write(t, st, "a", chat.User("a1"))
	write(t, st, "b", chat.User("b1"), chat.User("b2"))
	write(t, st, "ab", chat.User("ab1"))
	if got := texts(retrieve(t, st, "a", chatstore.All)); !slices.Equal(got, []string{"a1"}) {
		t.Errorf("a = %v", got)
	}
	if got := ids(retrieve(t, st, "b", chatstore.All)); !slices.Equal(got, []string{"0", "1"}) {
		t.Errorf("b ids = %v (each history numbers its own messages)", got)
	}
	if count(t, st, "a") != 1 || count(t, st, "b") != 2 || count(t, st, "ab") != 1 || count(t, st, "c") != 0 {
		t.Errorf("counts wrong")
	}
	// Ids that look like key syntax of some backend stay separate too.
	odd := []string{"x:y", "x", "{x}", "x}", "with space", "ünï", "a/b", "%", "*", "x*"}
	for i, id := range odd {
		write(t, st, id, chat.User(strconv.Itoa(i)))
	}
	for i, id := range odd {
		if got := texts(retrieve(t, st, id, chatstore.All)); !slices.Equal(got, []string{strconv.Itoa(i)}) {
			t.Errorf("history %q = %v", id, got)
		}
	}
}

func (s suite) testDelete(t *testing.T) {
	st := s.store(t, nil)
	write(t, st, "a", chat.User("a1"))
	write(t, st, "b", chat.User("b1"))
	if err := st.Delete(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	if count(t, st, "a") != 0 || len(retrieve(t, st, "a", chatstore.All)) != 0 {
		t.Errorf("a not deleted")
	}
	if count(t, st, "b") != 1 {
		t.Errorf("deleting a touched b")
	}
	if err := st.Delete(ctx(t), "never-existed"); err != nil {
		t.Errorf("deleting an unknown history: %v", err)
	}
	// A deleted history starts afresh: ids and rounds from zero.
	write(t, st, "a", chat.User("again"))
	if got := retrieve(t, st, "a", 1); !slices.Equal(ids(got), []string{"0"}) || !slices.Equal(texts(got), []string{"again"}) {
		t.Errorf("after delete: %v %v", ids(got), texts(got))
	}
}

// testDeletePrefix deletes a tenant's histories (DeleteAll of a
// Prefixed view): those whose ids start with the prefix, and no other, also ids that sort among them or share all
// but the prefix's last character; a history written again afterwards starts
// afresh, and its ids with it.
func (s suite) testDeletePrefix(t *testing.T) {
	st := s.store(t, nil)
	gone := []string{"acme:", "acme:a", "acme:b/1", "acme:ü", "acme:" + strings.Repeat("z", 100)}
	kept := []string{"acme", "acme;", "acm", "acmf:", "b", "acme9:x", "ACME:a", "other:acme:a"}
	for _, id := range append(append([]string{}, gone...), kept...) {
		write(t, st, id, chat.User(id), chat.Assistant("ok"))
	}
	if err := chatstore.Prefixed(st, "acme:").DeleteAll(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, id := range gone {
		if c := count(t, st, id); c != 0 {
			t.Errorf("%q has %d messages after DeletePrefix(acme:)", id, c)
		}
	}
	for _, id := range kept {
		if c := count(t, st, id); c != 2 {
			t.Errorf("%q has %d messages after DeletePrefix(acme:), want 2", id, c)
		}
	}
	page, err := st.List(ctx(t), chatstore.ListOptions{Prefix: "acme:"})
	if err != nil || len(page.Histories) != 0 {
		t.Errorf("List(acme:) after DeletePrefix: %v %v", page, err)
	}
	write(t, st, "acme:a", chat.User("again"))
	if got := ids(retrieve(t, st, "acme:a", chatstore.All)); !slices.Equal(got, []string{"0"}) {
		t.Errorf("a history written after DeletePrefix has ids %v, want [0]", got)
	}
	for _, bad := range []string{"a\x00", "\xff"} { // (a view under "" is the whole store)
		if err := chatstore.Prefixed(st, bad).DeleteAll(ctx(t)); !errors.Is(err, chatstore.ErrInvalidHistoryID) {
			t.Errorf("DeleteAll under %q: %v", bad, err)
		}
	}
}

func (s suite) testDeleteAll(t *testing.T) {
	st := s.store(t, nil)
	for i := range 5 {
		write(t, st, fmt.Sprint("h", i), chat.User("x"))
	}
	if err := st.DeleteAll(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if c := count(t, st, fmt.Sprint("h", i)); c != 0 {
			t.Errorf("h%d has %d messages after DeleteAll", i, c)
		}
	}
	page, err := st.List(ctx(t), chatstore.ListOptions{})
	if err != nil || len(page.Histories) != 0 {
		t.Errorf("List after DeleteAll: %v %v", page, err)
	}
	write(t, st, "h0", chat.User("new"))
	if c := count(t, st, "h0"); c != 1 {
		t.Errorf("write after DeleteAll: count %d", c)
	}
	// DeleteAll is scoped to its store: a second store is untouched.
	other := s.store(t, nil)
	write(t, other, "keep", chat.User("x"))
	if err := st.DeleteAll(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if c := count(t, other, "keep"); c != 1 {
		t.Errorf("DeleteAll on one store deleted another store's history")
	}
}

func (s suite) testList(t *testing.T) {
	st := s.store(t, nil)
	page, err := st.List(ctx(t), chatstore.ListOptions{})
	if err != nil || len(page.Histories) != 0 || page.NextCursor != "" {
		t.Fatalf("empty store: %+v %v", page, err)
	}
	want := map[string]int{}
	for i := range 25 {
		id := fmt.Sprintf("hist-%02d", (i*7)%25) // written out of order
		n := 1 + i%3
		msgs := make([]chat.Message, n)
		for j := range msgs {
			msgs[j] = chat.User("m")
		}
		write(t, st, id, msgs...)
		want[id] = n
	}
	var got []chatstore.HistoryInfo
	cursor := ""
	pages := 0
	for {
		page, err := st.List(ctx(t), chatstore.ListOptions{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Histories) > 10 {
			t.Fatalf("page of %d > limit", len(page.Histories))
		}
		got = append(got, page.Histories...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || len(got) != 25 {
		t.Errorf("%d pages, %d histories; want 3 and 25", pages, len(got))
	}
	if !slices.IsSortedFunc(got, func(a, b chatstore.HistoryInfo) int { return strings.Compare(a.ID, b.ID) }) {
		t.Errorf("not in id order: %v", got)
	}
	for _, h := range got {
		if want[h.ID] != h.Count {
			t.Errorf("%s: count %d, want %d", h.ID, h.Count, want[h.ID])
		}
		delete(want, h.ID)
	}
	if len(want) != 0 {
		t.Errorf("missing from listing: %v", want)
	}
	// An exact multiple of the limit ends without an empty extra page.
	exact, err := st.List(ctx(t), chatstore.ListOptions{Limit: 25})
	if err != nil || len(exact.Histories) != 25 || exact.NextCursor != "" {
		t.Errorf("limit 25: %d histories, cursor %q, %v", len(exact.Histories), exact.NextCursor, err)
	}
	for _, bad := range []string{"nonsense", "h1.!!!", "h1."} {
		if _, err := st.List(ctx(t), chatstore.ListOptions{Cursor: bad}); !errors.Is(err, chatstore.ErrInvalidCursor) {
			t.Errorf("cursor %q: err = %v", bad, err)
		}
	}
	for _, limit := range []int{-1, chatstore.MaxListLimit + 1} {
		if _, err := st.List(ctx(t), chatstore.ListOptions{Limit: limit}); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("limit %d: err = %v", limit, err)
		}
	}
}

func (s suite) testListPrefix(t *testing.T) {
	st := s.store(t, nil)
	// "a:" itself, ids inside the range, and neighbours on both sides that
	// share all but the last byte of the prefix.
	ids := []string{"a", "a9", "a:", "a:1", "a:2", "a:3", "a:\u00e9", "a;", "b:1"}
	for _, id := range ids {
		write(t, st, id, chat.User("m"))
	}
	want := []string{"a:", "a:1", "a:2", "a:3", "a:\u00e9"}
	for _, limit := range []int{1, 2, 5, 6} {
		var got []string
		cursor := ""
		for range 10 {
			page, err := st.List(ctx(t), chatstore.ListOptions{Prefix: "a:", Limit: limit, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range page.Histories {
				got = append(got, h.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("prefix a:, limit %d: %q, want %q", limit, got, want)
		}
	}
	if page, err := st.List(ctx(t), chatstore.ListOptions{Prefix: "zz"}); err != nil || len(page.Histories) != 0 {
		t.Errorf("prefix zz: %+v %v", page, err)
	}
}

func (s suite) testInvalidHistoryIDs(t *testing.T) {
	st := s.store(t, nil)
	for _, id := range []string{"", strings.Repeat("x", chatstore.MaxHistoryIDLen+1), "a\xffb", "a\x00b"} {
		errs := []error{}
		_, err := st.Write(ctx(t), id, []chat.Message{chat.User("x")})
		errs = append(errs, err)
		_, err = st.Count(ctx(t), id)
		errs = append(errs, err)
		_, err = st.RetrieveLast(ctx(t), id, 1)
		errs = append(errs, err)
		errs = append(errs, st.Delete(ctx(t), id))
		for i, err := range errs {
			if !errors.Is(err, chatstore.ErrInvalidHistoryID) {
				t.Errorf("id %q, op %d: err = %v", id, i, err)
			}
		}
	}
	longest := strings.Repeat("é", chatstore.MaxHistoryIDLen/2)
	write(t, st, longest, chat.User("x"))
	if count(t, st, longest) != 1 {
		t.Errorf("a history id of exactly the limit does not work")
	}
}

func (s suite) testInvalidMessagesWriteNothing(t *testing.T) {
	st := s.store(t, nil)
	bad := []chat.Message{
		{Role: "robot", Content: []chat.Part{chat.Text{Text: "x"}}},
		{Role: chat.RoleUser, Content: []chat.Part{nil}},
		chat.User("bad utf8 \xff"),
		chat.User("x").WithMeta("nan", func() float64 { z := 0.0; return z / z }()),
		{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: "not base64"}}},
	}
	for i, b := range bad {
		_, err := st.Write(ctx(t), "h", []chat.Message{chat.User("ok"), b})
		if !errors.Is(err, chatstore.ErrInvalidMessage) {
			t.Errorf("bad[%d]: err = %v", i, err)
		}
	}
	if c := count(t, st, "h"); c != 0 {
		t.Errorf("a rejected write stored %d messages", c)
	}
	if n := write(t, st, "h"); n != 0 {
		t.Errorf("empty write wrote %d", n)
	}
}

func (s suite) testTooManyMessages(t *testing.T) {
	st := s.store(t, &chatstore.Options{MaxWriteMessages: 3})
	msgs := []chat.Message{chat.User("1"), chat.User("2"), chat.User("3"), chat.User("4")}
	if _, err := st.Write(ctx(t), "h", msgs); !errors.Is(err, chatstore.ErrTooManyMessages) {
		t.Errorf("err = %v", err)
	}
	if n := write(t, st, "h", msgs[:3]...); n != 3 {
		t.Errorf("a write at the limit wrote %d", n)
	}
}

func (s suite) testContextCanceled(t *testing.T) {
	st := s.store(t, nil)
	write(t, st, "h", chat.User("x"))
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	_, err1 := st.Write(c, "h", []chat.Message{chat.User("y")})
	_, err2 := st.Count(c, "h")
	_, err3 := st.RetrieveLast(c, "h", 1)
	err4 := st.Delete(c, "h")
	err5 := st.DeleteAll(c)
	_, err6 := st.List(c, chatstore.ListOptions{})
	for i, err := range []error{err1, err2, err3, err4, err5, err6} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("op %d: err = %v, want context.Canceled", i, err)
		}
	}
	if count(t, st, "h") != 1 {
		t.Errorf("a canceled call changed the store")
	}
	dl, cancel2 := context.WithDeadline(ctx(t), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := st.Count(dl, "h"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired deadline: err = %v", err)
	}
}

func (s suite) testClosed(t *testing.T) {
	st := s.store(t, nil)
	write(t, st, "h", chat.User("x"))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err1 := st.Write(ctx(t), "h", []chat.Message{chat.User("y")})
	_, err2 := st.Count(ctx(t), "h")
	_, err3 := st.RetrieveLast(ctx(t), "h", 1)
	err4 := st.Delete(ctx(t), "h")
	err5 := st.DeleteAll(ctx(t))
	_, err6 := st.List(ctx(t), chatstore.ListOptions{})
	for i, err := range []error{err1, err2, err3, err4, err5, err6} {
		if !errors.Is(err, chatstore.ErrClosed) {
			t.Errorf("op %d after Close: err = %v", i, err)
		}
	}
}

func (s suite) testMutationAfterWrite(t *testing.T) {
	st := s.store(t, nil)
	args := map[string]any{"nested": map[string]any{"k": "v"}}
	m := chat.Assistant("", chat.ToolCall{ToolName: "t", Arguments: args}).WithMeta("list", []any{"a"})
	msgs := []chat.Message{m, chat.User("u")}
	write(t, st, "h", msgs...)
	args["nested"].(map[string]any)["k"] = "changed"
	m.Meta["list"].([]any)[0] = "changed"
	msgs[1].Content[0] = chat.Text{Text: "changed"}
	msgs[1] = chat.User("replaced")
	got := retrieve(t, st, "h", chatstore.All)
	c, _ := got[0].ToolCall()
	if c.Arguments["nested"].(map[string]any)["k"] != "v" || got[0].Meta["list"].([]any)[0] != "a" || texts(got)[1] != "u" {
		t.Errorf("changing written messages changed the store: %+v", got)
	}
}

func (s suite) testMutationAfterRetrieve(t *testing.T) {
	st := s.store(t, nil)
	write(t, st, "h", chat.User("u").WithMeta("m", map[string]any{"k": "v"}))
	got := retrieve(t, st, "h", chatstore.All)
	got[0].Meta["m"].(map[string]any)["k"] = "changed"
	got[0].Meta[chatstore.MessageIDKey] = "changed"
	got[0].Content[0] = chat.Text{Text: "changed"}
	again := retrieve(t, st, "h", chatstore.All)
	if again[0].Meta["m"].(map[string]any)["k"] != "v" || ids(again)[0] != "0" || texts(again)[0] != "u" {
		t.Errorf("changing retrieved messages changed the store: %+v", again)
	}
}

// testConcurrentOneHistory: writers on one history lose nothing, ids stay
// unique, and each write's messages stay contiguous and in order.
func (s suite) testConcurrentOneHistory(t *testing.T) {
	st := s.store(t, nil)
	const writers, writes, batch = 8, 15, 3
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				msgs := make([]chat.Message, batch)
				for j := range msgs {
					msgs[j] = chat.User(fmt.Sprintf("w%d-%d-%d", w, i, j))
				}
				if n, err := st.Write(ctx(t), "h", msgs); err != nil || n != batch {
					errs <- fmt.Errorf("writer %d: wrote %d, %v", w, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := retrieve(t, st, "h", chatstore.All)
	checkConcurrentHistory(t, all, writers*writes*batch, batch)
}

func checkConcurrentHistory(t *testing.T, all []chat.Message, wantN, batch int) {
	t.Helper()
	if len(all) != wantN {
		t.Fatalf("%d messages, want %d", len(all), wantN)
	}
	seenID := map[string]bool{}
	for _, id := range ids(all) {
		if seenID[id] {
			t.Errorf("duplicate id %q", id)
		}
		seenID[id] = true
	}
	ts := texts(all)
	lastBatch := map[string]int{}
	for i := 0; i < len(ts); i += batch {
		// Each batch of `batch` consecutive messages must be one write, in order.
		w, wi, _ := splitTag(ts[i])
		for j := range batch {
			if want := fmt.Sprintf("%s-%d-%d", w, wi, j); ts[i+j] != want {
				t.Fatalf("message %d is %q, want %q: writes interleaved", i+j, ts[i+j], want)
			}
		}
		if prev, ok := lastBatch[w]; ok && wi != prev+1 {
			t.Errorf("writer %s: batch %d after %d", w, wi, prev)
		}
		lastBatch[w] = wi
	}
}

func splitTag(s string) (writer string, batch, idx int) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return s, -1, -1
	}
	b, _ := strconv.Atoi(parts[1])
	i, _ := strconv.Atoi(parts[2])
	return parts[0], b, i
}

func (s suite) testConcurrentManyHistories(t *testing.T) {
	st := s.store(t, nil)
	const writers, writes = 8, 20
	var wg sync.WaitGroup
	var failed sync.Once
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				h := fmt.Sprint("h", (w+i)%4)
				msgs := []chat.Message{chat.User(fmt.Sprintf("w%d-%d-0", w, i)), chat.Assistant(fmt.Sprintf("w%d-%d-1", w, i))}
				if _, err := st.Write(ctx(t), h, msgs); err != nil {
					failed.Do(func() { t.Errorf("write: %v", err) })
					return
				}
				if _, err := st.RetrieveLast(ctx(t), h, 3); err != nil {
					failed.Do(func() { t.Errorf("retrieve: %v", err) })
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for h := range 4 {
		all := retrieve(t, st, fmt.Sprint("h", h), chatstore.All)
		total += len(all)
		seen := map[string]bool{}
		for _, id := range ids(all) {
			if seen[id] {
				t.Errorf("h%d: duplicate id %q", h, id)
			}
			seen[id] = true
		}
		ts := texts(all)
		for i := 0; i+1 < len(ts); i += 2 {
			w, b, j := splitTag(ts[i])
			if j != 0 || ts[i+1] != fmt.Sprintf("%s-%d-1", w, b) {
				t.Fatalf("h%d: writes interleaved at %d: %v", h, i, ts[i:i+2])
			}
		}
	}
	if total != writers*writes*2 {
		t.Errorf("%d messages in all, want %d", total, writers*writes*2)
	}
}

func (s suite) testPing(t *testing.T) {
	st := s.store(t, nil)
	if err := st.Ping(ctx(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
