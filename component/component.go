// Package component provides Haystack's ChatMessageWriter and
// ChatMessageRetriever for Go: small components around a chatstore.Store that
// load from, and serialize to, the dictionaries of Haystack pipeline files, in
// JSON or YAML.
package component

import (
	"context"
	"fmt"
	"maps"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// The Haystack type names of the two components.
const (
	WriterType    = "haystack_experimental.components.writers.chat_message_writer.ChatMessageWriter"
	RetrieverType = "haystack_experimental.components.retrievers.chat_message_retriever.ChatMessageRetriever"
)

// Writer writes messages to a store (Haystack's ChatMessageWriter).
type Writer struct {
	Store *chatstore.Store
}

// NewWriter returns a writer around store.
func NewWriter(store *chatstore.Store) *Writer { return &Writer{Store: store} }

// Run writes messages to a history and returns how many were written
// (Haystack's messages_written).
func (w *Writer) Run(ctx context.Context, historyID string, messages []chat.Message) (int, error) {
	return w.Store.Write(ctx, historyID, messages)
}

// Dict returns the writer as a Haystack component dictionary.
func (w *Writer) Dict() (map[string]any, error) {
	store, err := StoreDict(w.Store)
	if err != nil {
		return nil, err
	}
	return map[string]any{"type": WriterType, "init_parameters": map[string]any{"chat_message_store": store}}, nil
}

// StoreDefault, only as a Retriever's LastK, defers to the store's own
// last_k (Haystack's last_k=None on the retriever). The root package's
// lastk.go lists every special value of a last_k.
const StoreDefault = -1

// DefaultLastK is a new Retriever's LastK, as in Haystack: the store's
// default too.
const DefaultLastK = chatstore.DefaultLastK

// Retriever reads the recent history of a conversation and combines it with
// the current messages (Haystack's ChatMessageRetriever).
type Retriever struct {
	Store *chatstore.Store
	// LastK is the number of rounds to read: ≥ 1, 0 for none (only the
	// current messages), chatstore.All for everything, or StoreDefault.
	LastK int
	// MaxBytes, when > 0, bounds the history read, as
	// chatstore.ReadOptions.MaxBytes does: a larger one fails with
	// chatstore.ErrTooLarge.
	MaxBytes int
}

// NewRetriever returns a retriever around store with LastK DefaultLastK.
func NewRetriever(store *chatstore.Store) *Retriever {
	return &Retriever{Store: store, LastK: DefaultLastK}
}

// RunOptions are the optional inputs of Retriever.Run.
type RunOptions struct {
	// LastK overrides the retriever's LastK when non-nil. Unlike Haystack,
	// where `last_k or self.last_k` makes 0 fall back to the retriever's
	// value, 0 here means no history.
	LastK *int
	// CurrentMessages are combined with the history: their system messages
	// first, then the history, then the rest of them.
	CurrentMessages []chat.Message
	// MaxTokens, when > 0, is a token budget for what Run returns, by the
	// store's counter: the current messages and ToolTokens are taken from
	// it, and the history gets the rest (chatstore.ReadOptions.MaxTokens),
	// none if nothing is left.
	MaxTokens int64
	// ToolTokens is an allowance, within MaxTokens, for what the model is
	// sent besides the messages: tool schemas, a provider's formatting.
	ToolTokens int64
	// PruneToolResults and Uncompacted are chatstore.ReadOptions's, for
	// the history.
	PruneToolResults, Uncompacted bool
	// Window, when not nil, is set to what the history read returned,
	// with Tokens counting everything Run returns and ToolTokens.
	Window *chatstore.Window
}

// Run returns the messages to send to a model: the system messages of
// opts.CurrentMessages, the last LastK rounds of the history, then the other
// current messages.
func (r *Retriever) Run(ctx context.Context, historyID string, opts RunOptions) ([]chat.Message, error) {
	k := r.LastK
	switch {
	case opts.LastK != nil && *opts.LastK < 0:
		return nil, fmt.Errorf("component: %w: last_k must be 0 or greater, got %d", chatstore.ErrInvalidLastK, *opts.LastK)
	case opts.LastK != nil:
		k = *opts.LastK
	case k == StoreDefault:
		k = r.Store.DefaultLastK()
	case k < 0:
		return nil, fmt.Errorf("component: %w: the retriever's last_k must be 0 or greater, got %d", chatstore.ErrInvalidLastK, k)
	}
	if opts.MaxTokens < 0 || opts.ToolTokens < 0 {
		return nil, fmt.Errorf("component: %w: max_tokens must be 1 or greater and the tools' allowance 0 or greater, got %d and %d", chatstore.ErrInvalidRange, opts.MaxTokens, opts.ToolTokens)
	}
	ro := chatstore.ReadOptions{LastK: k, MaxBytes: r.MaxBytes, PruneToolResults: opts.PruneToolResults, Uncompacted: opts.Uncompacted}
	// Not read, the history's omitted messages are not known.
	win := chatstore.Window{Omitted: -1, OmittedTokens: -1}
	if opts.Window != nil {
		ro.Window = &win
	}
	// The current messages and the allowance are counted once; the "\n"
	// joining them to the history counts if there is history, so the
	// budget keeps a token for it.
	var current, join int64
	if opts.MaxTokens > 0 || opts.Window != nil {
		current = r.Store.Meter().Count(opts.CurrentMessages, nil) + opts.ToolTokens
		if len(opts.CurrentMessages) > 0 {
			join = 1
		}
	}
	if opts.MaxTokens > 0 {
		ro.MaxTokens = opts.MaxTokens - current - join
		if ro.MaxTokens <= 0 {
			ro.LastK, win.Exceeded = 0, true
		}
	}
	var history []chat.Message
	var err error
	if ro.LastK == 0 {
		// Still reject a bad history id, as a read would.
		err = chatstore.CheckHistoryID(historyID)
	} else {
		history, err = r.Store.Read(ctx, historyID, ro)
	}
	if err != nil {
		return nil, err
	}
	if opts.Window != nil {
		if len(history) > 0 {
			current += join
		}
		win.Tokens += current
		win.MaxTokens = opts.MaxTokens
		*opts.Window = win
	}
	out := make([]chat.Message, 0, len(history)+len(opts.CurrentMessages))
	for _, m := range opts.CurrentMessages {
		if m.Is(chat.RoleSystem) {
			out = append(out, m)
		}
	}
	out = append(out, history...)
	for _, m := range opts.CurrentMessages {
		if !m.Is(chat.RoleSystem) {
			out = append(out, m)
		}
	}
	return out, nil
}

// Dict returns the retriever as a Haystack component dictionary.
func (r *Retriever) Dict() (map[string]any, error) {
	store, err := StoreDict(r.Store)
	if err != nil {
		return nil, err
	}
	var lastK any
	switch r.LastK {
	case StoreDefault, chatstore.All:
		lastK = nil
	default:
		lastK = r.LastK
	}
	return map[string]any{"type": RetrieverType, "init_parameters": map[string]any{"chat_message_store": store, "last_k": lastK}}, nil
}

// LoadWriter builds a Writer from a Haystack component dictionary. It does
// not modify data.
func LoadWriter(ctx context.Context, data map[string]any) (*Writer, error) {
	init, store, err := load(ctx, data, WriterType)
	if err != nil {
		return nil, err
	}
	for k := range init {
		_ = store.Close()
		return nil, fmt.Errorf("component: %w: unknown init parameter %q for ChatMessageWriter", chatstore.ErrDeserialization, k)
	}
	return &Writer{Store: store}, nil
}

// LoadRetriever builds a Retriever from a Haystack component dictionary. It
// does not modify data.
func LoadRetriever(ctx context.Context, data map[string]any) (*Retriever, error) {
	init, store, err := load(ctx, data, RetrieverType)
	if err != nil {
		return nil, err
	}
	r := &Retriever{Store: store, LastK: DefaultLastK}
	for k, v := range init {
		if k != "last_k" {
			_ = store.Close()
			return nil, fmt.Errorf("component: %w: unknown init parameter %q for ChatMessageRetriever", chatstore.ErrDeserialization, k)
		}
		// null defers to the store; 0 means only the current messages.
		if r.LastK, err = chatstore.LastKValue(v, StoreDefault); err != nil {
			_ = store.Close()
			return nil, fmt.Errorf("component: %w: ChatMessageRetriever: %w", chatstore.ErrDeserialization, err)
		}
	}
	return r, nil
}

// load checks a component dictionary of the given type and builds its
// store; it returns the other init parameters.
func load(ctx context.Context, data map[string]any, typeName string) (map[string]any, *chatstore.Store, error) {
	if t, ok := data["type"]; ok && t != typeName {
		return nil, nil, fmt.Errorf("component: %w: type %v is not %s", chatstore.ErrDeserialization, t, typeName)
	}
	init := map[string]any{}
	if raw, ok := data["init_parameters"]; ok && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("component: %w: init_parameters must be an object, got %T", chatstore.ErrDeserialization, raw)
		}
		init = maps.Clone(m)
	}
	raw, ok := init["chat_message_store"]
	if !ok {
		return nil, nil, fmt.Errorf("component: %w: missing 'chat_message_store' in serialization data", chatstore.ErrDeserialization)
	}
	storeData, ok := raw.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("component: %w: 'chat_message_store' must be an object, got %T", chatstore.ErrDeserialization, raw)
	}
	if _, ok := storeData["type"]; !ok {
		return nil, nil, fmt.Errorf("component: %w: missing 'type' in message store's serialization data", chatstore.ErrDeserialization)
	}
	store, err := LoadStore(ctx, storeData)
	if err != nil {
		return nil, nil, err
	}
	delete(init, "chat_message_store")
	return init, store, nil
}
