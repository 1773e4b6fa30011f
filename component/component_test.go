package component_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/component"
	"github.com/chatstore/chatstore/internal/jsontest"
	"github.com/chatstore/chatstore/memstore"
)

// The fixtures were recorded from haystack-experimental's components
// (storetest/testdata/haystack_components.json).
type fixture struct {
	Name          string              `json:"name"`
	Why           string              `json:"why"`
	Op            string              `json:"op"`
	StoreInit     map[string]any      `json:"store_init"`
	RetrieverInit map[string]any      `json:"retriever_init"`
	Data          map[string]any      `json:"data"`
	Messages      []json.RawMessage   `json:"messages"`
	History       [][]json.RawMessage `json:"history"`
	Run           struct {
		LastK           *int              `json:"last_k"`
		CurrentMessages []json.RawMessage `json:"current_messages"`
	} `json:"run"`
	Want  json.RawMessage `json:"want"`
	Error string          `json:"error"`
}

// Deliberate differences: a run-time last_k of 0 means no history here;
// Haystack's `last_k or self.last_k` falls back to the retriever's.
var differs = map[string]string{
	"retriever_run_last_k_0_falls_back":   "last_k 0 means no history",
	"retriever_run_last_k_0_with_current": "last_k 0 means no history",
}

func loadFixtures(t *testing.T) []fixture {
	b, err := os.ReadFile("../storetest/testdata/haystack_components.json")
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytesReader(b))
	d.UseNumber()
	var fs []fixture
	if err := d.Decode(&fs); err != nil {
		t.Fatal(err)
	}
	return fs
}

// privateStore builds an isolated in-memory store from Haystack init
// parameters (the shared one would let cases see each other's messages).
func privateStore(t *testing.T, init map[string]any) *chatstore.Store {
	t.Helper()
	data := map[string]any{"type": memstore.HaystackType, "init_parameters": init}
	shared, err := component.LoadStore(t.Context(), data)
	if err != nil {
		t.Fatalf("LoadStore(%v): %v", init, err)
	}
	st, err := chatstore.New(memstore.New(), ptr(shared.Options()))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func ptr[T any](v T) *T { return &v }

func messages(t *testing.T, raws []json.RawMessage) []chat.Message {
	t.Helper()
	out := make([]chat.Message, len(raws))
	for i, r := range raws {
		m, err := chat.Unmarshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = m
	}
	return out
}

func asJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func messagesJSON(t *testing.T, key string, msgs []chat.Message) []byte {
	t.Helper()
	raws := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		b, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		raws[i] = b
	}
	return asJSON(t, map[string]any{key: raws})
}

func retrieverFromInit(t *testing.T, st *chatstore.Store, init map[string]any) (*component.Retriever, error) {
	t.Helper()
	dict, err := component.StoreDict(st)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"chat_message_store": dict}
	for k, v := range init {
		params[k] = v
	}
	r, err := component.LoadRetriever(t.Context(), map[string]any{"type": component.RetrieverType, "init_parameters": params})
	if err != nil {
		return nil, err
	}
	r.Store = st // keep the private store, not the shared one loading gave
	return r, nil
}

func TestHaystackFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			var got []byte
			var err error
			switch f.Op {
			case "store_to_dict":
				var d map[string]any
				d, err = component.StoreDict(privateStore(t, f.StoreInit))
				got = asJSON(t, d)
			case "writer_to_dict":
				got, err = component.NewWriter(privateStore(t, f.StoreInit)).MarshalJSON()
			case "retriever_to_dict":
				var r *component.Retriever
				if r, err = retrieverFromInit(t, privateStore(t, f.StoreInit), f.RetrieverInit); err == nil {
					got, err = r.MarshalJSON()
				}
			case "store_from_dict":
				var st *chatstore.Store
				if st, err = component.LoadStore(t.Context(), f.Data); err == nil {
					var d map[string]any
					d, err = component.StoreDict(st)
					got = asJSON(t, d)
				}
			case "writer_from_dict":
				var w *component.Writer
				if w, err = component.LoadWriter(t.Context(), f.Data); err == nil {
					got, err = w.MarshalJSON()
				}
			case "retriever_from_dict":
				var r *component.Retriever
				if r, err = component.LoadRetriever(t.Context(), f.Data); err == nil {
					got, err = r.MarshalJSON()
				}
			case "writer_run":
				st := privateStore(t, f.StoreInit)
				for _, w := range f.History {
					if _, err := st.Write(t.Context(), "h", messages(t, w)); err != nil {
						t.Fatal(err)
					}
				}
				n, werr := component.NewWriter(st).Run(t.Context(), "h", messages(t, f.Messages))
				if werr != nil {
					t.Fatal(werr)
				}
				stored, rerr := st.RetrieveLast(t.Context(), "h", chatstore.All)
				if rerr != nil {
					t.Fatal(rerr)
				}
				raws := []json.RawMessage{}
				for _, m := range stored {
					b, _ := m.MarshalJSON()
					raws = append(raws, b)
				}
				got = asJSON(t, map[string]any{"messages_written": n, "stored": raws})
			case "retriever_run":
				st := privateStore(t, f.StoreInit)
				for _, w := range f.History {
					if _, err := st.Write(t.Context(), "h", messages(t, w)); err != nil {
						t.Fatal(err)
					}
				}
				var r *component.Retriever
				if r, err = retrieverFromInit(t, st, f.RetrieverInit); err == nil {
					var msgs []chat.Message
					msgs, err = r.Run(t.Context(), "h", component.RunOptions{LastK: f.Run.LastK, CurrentMessages: messages(t, f.Run.CurrentMessages)})
					got = messagesJSON(t, "messages", msgs)
				}
			default:
				t.Fatalf("unknown op %q", f.Op)
			}
			if why, ok := differs[f.Name]; ok {
				if err != nil {
					t.Fatal(err)
				}
				checkDiffers(t, f, got, why)
				return
			}
			if f.Error != "" {
				if err == nil {
					t.Fatalf("got %s, want an error like Haystack's %q", got, f.Error)
				}
				if !errors.Is(err, chatstore.ErrDeserialization) && !errors.Is(err, chatstore.ErrInvalidLastK) {
					t.Errorf("error %v wraps neither ErrDeserialization nor ErrInvalidLastK", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v (%s)", err, f.Why)
			}
			if d := jsontest.Diff(got, f.Want); d != "" {
				t.Errorf("%s\n got  %s\n want %s\n %s", f.Why, got, f.Want, d)
			}
		})
	}
}

// checkDiffers: with last_k 0 at run time, only the current messages come
// back.
func checkDiffers(t *testing.T, f fixture, got []byte, why string) {
	t.Helper()
	cur := messages(t, f.Run.CurrentMessages)
	var want []chat.Message
	for _, m := range cur {
		if m.Is(chat.RoleSystem) {
			want = append(want, m)
		}
	}
	for _, m := range cur {
		if !m.Is(chat.RoleSystem) {
			want = append(want, m)
		}
	}
	if d := jsontest.Diff(got, messagesJSON(t, "messages", want)); d != "" {
		t.Errorf("%s: got %s\n %s", why, got, d)
	}
}

const pipelineYAML = `
components:
  writer:
    type: haystack_experimental.components.writers.chat_message_writer.ChatMessageWriter
    init_parameters:
      chat_message_store:
        type: haystack_experimental.chat_message_stores.in_memory.InMemoryChatMessageStore
        init_parameters:
          skip_system_messages: true
          last_k: 10
  retriever:
    type: haystack_experimental.components.retrievers.chat_message_retriever.ChatMessageRetriever
    init_parameters:
      chat_message_store:
        type: haystack_experimental.chat_message_stores.in_memory.InMemoryChatMessageStore
        init_parameters:
          skip_system_messages: true
          last_k: 10
      last_k: 2
`

// Components loaded from a pipeline file with the in-memory store type share
// one storage, as in Haystack.
func TestPipelineYAMLShared(t *testing.T) {
	var pipeline struct {
		Components map[string]yaml.Node `yaml:"components"`
	}
	if err := yaml.Unmarshal([]byte(pipelineYAML), &pipeline); err != nil {
		t.Fatal(err)
	}
	wNode, rNode := pipeline.Components["writer"], pipeline.Components["retriever"]
	wYAML, _ := yaml.Marshal(&wNode)
	rYAML, _ := yaml.Marshal(&rNode)
	w, err := component.WriterFromYAML(t.Context(), wYAML)
	if err != nil {
		t.Fatal(err)
	}
	r, err := component.RetrieverFromYAML(t.Context(), rYAML)
	if err != nil {
		t.Fatal(err)
	}
	if r.LastK != 2 {
		t.Errorf("retriever last_k = %d", r.LastK)
	}
	id := t.Name() // the shared store is process-wide
	t.Cleanup(func() { _ = w.Store.Delete(t.Context(), id) })
	conv := []chat.Message{chat.User("a"), chat.Assistant("b"), chat.User("c"), chat.Assistant("d"), chat.User("e"), chat.Assistant("f")}
	if n, err := w.Run(t.Context(), id, conv); err != nil || n != 6 {
		t.Fatalf("Run: %d %v", n, err)
	}
	got, err := r.Run(t.Context(), id, component.RunOptions{CurrentMessages: []chat.Message{chat.User("g"), chat.System("sys")}})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range got {
		s, _ := m.Text()
		texts = append(texts, s)
	}
	if !slices.Equal(texts, []string{"sys", "c", "d", "e", "f", "g"}) {
		t.Errorf("retriever saw %v", texts)
	}
	// Written back, the YAML loads again to the same components.
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	again, err := component.RetrieverFromYAML(t.Context(), out)
	if err != nil || again.LastK != 2 || again.Store.Options() != r.Store.Options() {
		t.Errorf("YAML round trip: %s -> %+v, %v", out, again, err)
	}
}

func TestLoadDoesNotModifyInput(t *testing.T) {
	data := map[string]any{
		"type": component.RetrieverType,
		"init_parameters": map[string]any{
			"chat_message_store": map[string]any{"type": memstore.HaystackType, "init_parameters": map[string]any{"skip_system_messages": false, "last_k": nil}},
			"last_k":             3,
		},
	}
	before := asJSON(t, data)
	if _, err := component.LoadRetriever(t.Context(), data); err != nil {
		t.Fatal(err)
	}
	if _, err := component.LoadWriter(t.Context(), map[string]any{"type": component.WriterType, "init_parameters": map[string]any{"chat_message_store": data["init_parameters"].(map[string]any)["chat_message_store"]}}); err != nil {
		t.Fatal(err)
	}
	if after := asJSON(t, data); string(after) != string(before) {
		t.Errorf("loading changed the caller's dictionary:\n%s\n%s", before, after)
	}
}

func TestLoadErrors(t *testing.T) {
	store := map[string]any{"type": memstore.HaystackType, "init_parameters": map[string]any{}}
	tests := []struct {
		name string
		json string
	}{
		{"not json", `{`},
		{"null", `null`},
		{"missing store", `{"type":"` + component.WriterType + `","init_parameters":{}}`},
		{"store not object", `{"init_parameters":{"chat_message_store":"x"}}`},
		{"store missing type", `{"init_parameters":{"chat_message_store":{"init_parameters":{}}}}`},
		{"unknown store type", `{"init_parameters":{"chat_message_store":{"type":"my.Store"}}}`},
		{"store type not string", `{"init_parameters":{"chat_message_store":{"type":5}}}`},
		{"unknown store param", `{"init_parameters":{"chat_message_store":{"type":"` + memstore.HaystackType + `","init_parameters":{"index":"x"}}}}`},
		{"bad skip", `{"init_parameters":{"chat_message_store":{"type":"` + memstore.HaystackType + `","init_parameters":{"skip_system_messages":"yes"}}}}`},
		{"store last_k negative", `{"init_parameters":{"chat_message_store":{"type":"` + memstore.HaystackType + `","init_parameters":{"last_k":-1}}}}`},
		{"store last_k fraction", `{"init_parameters":{"chat_message_store":{"type":"` + memstore.HaystackType + `","init_parameters":{"last_k":1.5}}}}`},
		{"wrong component type", `{"type":"` + component.RetrieverType + `","init_parameters":{"chat_message_store":{"type":"` + memstore.HaystackType + `"}}}`},
		{"unknown writer param", `{"init_parameters":{"chat_message_store":{"type":"` + memstore.HaystackType + `"},"last_k":3}}`},
	}
	for _, tt := range tests {
		_, err := component.WriterFromJSON(t.Context(), []byte(tt.json))
		if !errors.Is(err, chatstore.ErrDeserialization) {
			t.Errorf("%s: err = %v, want ErrDeserialization", tt.name, err)
		}
	}
	for _, bad := range []any{-2, "x", 1.5} {
		data := map[string]any{"init_parameters": map[string]any{"chat_message_store": store, "last_k": bad}}
		if _, err := component.LoadRetriever(t.Context(), data); !errors.Is(err, chatstore.ErrDeserialization) {
			t.Errorf("retriever last_k %v: err = %v", bad, err)
		}
	}
	if _, err := component.RetrieverFromYAML(t.Context(), []byte("- not\n- a map\n")); !errors.Is(err, chatstore.ErrDeserialization) {
		t.Errorf("YAML list: err = %v", err)
	}
}

// TestStoreLastKZeroYAML loads a pipeline's retriever whose store has
// last_k: 0, which Haystack allows: the store's default read is empty, so a
// retriever deferring to it returns only the current messages.
func TestStoreLastKZeroYAML(t *testing.T) {
	yaml := []byte(`type: ` + component.RetrieverType + `
init_parameters:
  last_k: null
  chat_message_store:
    type: ` + memstore.HaystackType + `
    init_parameters:
      last_k: 0
`)
	r, err := component.RetrieverFromYAML(t.Context(), yaml)
	if err != nil {
		t.Fatalf("a store with last_k 0 does not load: %v", err)
	}
	defer r.Store.Close()
	if _, err := r.Store.Write(t.Context(), "h", []chat.Message{chat.User("q"), chat.Assistant("a")}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Run(t.Context(), "h", component.RunOptions{CurrentMessages: []chat.Message{chat.User("now")}})
	if err != nil || len(got) != 1 || func() string { s, _ := got[0].Text(); return s }() != "now" {
		t.Errorf("Run = %v, %v; want only the current message", got, err)
	}
	k := 1
	if got, err := r.Run(t.Context(), "h", component.RunOptions{LastK: &k}); err != nil || len(got) != 2 {
		t.Errorf("Run with last_k 1 = %d messages, %v; want 2", len(got), err)
	}
	d, err := r.Dict()
	if err != nil {
		t.Fatal(err)
	}
	if k := d["init_parameters"].(map[string]any)["chat_message_store"].(map[string]any)["init_parameters"].(map[string]any)["last_k"]; k != 0 {
		t.Errorf("serialized store last_k = %v, want 0", k)
	}
}

func TestRetrieverRun(t *testing.T) {
	st, err := chatstore.New(memstore.New(), &chatstore.Options{LastK: 1})
	if err != nil {
		t.Fatal(err)
	}
	conv := []chat.Message{chat.User("u0"), chat.Assistant("a0"), chat.User("u1"), chat.Assistant("a1")}
	if _, err := component.NewWriter(st).Run(t.Context(), "h", conv); err != nil {
		t.Fatal(err)
	}
	r := component.NewRetriever(st)
	texts := func(opts component.RunOptions, lastK int) []string {
		t.Helper()
		r.LastK = lastK
		msgs, err := r.Run(t.Context(), "h", opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			s, _ := m.Text()
			out = append(out, s)
		}
		return out
	}
	cases := []struct {
		opts  component.RunOptions
		lastK int
		want  []string
	}{
		{component.RunOptions{}, 10, []string{"u0", "a0", "u1", "a1"}},
		{component.RunOptions{}, component.StoreDefault, []string{"u1", "a1"}},
		{component.RunOptions{}, 0, nil},
		{component.RunOptions{LastK: ptr(1)}, 10, []string{"u1", "a1"}},
		{component.RunOptions{LastK: ptr(0), CurrentMessages: []chat.Message{chat.User("new")}}, 10, []string{"new"}},
		{component.RunOptions{CurrentMessages: []chat.Message{chat.User("new"), chat.System("sys")}}, 1, []string{"sys", "u1", "a1", "new"}},
	}
	for i, c := range cases {
		if got := texts(c.opts, c.lastK); !reflect.DeepEqual(got, c.want) {
			t.Errorf("case %d: got %v, want %v", i, got, c.want)
		}
	}
	r.LastK = 10
	if _, err := r.Run(t.Context(), "h", component.RunOptions{LastK: ptr(-1)}); !errors.Is(err, chatstore.ErrInvalidLastK) {
		t.Errorf("run last_k -1: %v", err)
	}
	r.LastK = -5
	if _, err := r.Run(t.Context(), "h", component.RunOptions{}); !errors.Is(err, chatstore.ErrInvalidLastK) {
		t.Errorf("retriever last_k -5: %v", err)
	}
	r.LastK = 0
	if _, err := r.Run(t.Context(), "", component.RunOptions{}); !errors.Is(err, chatstore.ErrInvalidHistoryID) {
		t.Errorf("empty history id with last_k 0: %v", err)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
