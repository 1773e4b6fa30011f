package component

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// Haystack pipelines serialize a chat message store as
//
//	{"type": "haystack_experimental.chat_message_stores.in_memory.InMemoryChatMessageStore",
//	 "init_parameters": {"skip_system_messages": true, "last_k": 10}}
//
// LoadStore builds a chatstore.Store from such a dictionary and StoreDict
// writes one.

// storeTypes maps the Haystack type names of chat message stores that load
// to the URL of the store each loads as. Such a store takes only the
// store-wide init parameters, skip_system_messages and last_k. Every
// in-memory store loaded from a dictionary is the one process-wide
// "memory://haystack", as in Haystack all in-memory stores share one
// storage: a writer and a retriever loaded from one pipeline file see the
// same messages. The names are Haystack's; memstore's stores write the same
// one (driver.HaystackTyper, held to this table by TestStoreTypesNamed).
// Loading needs the backend of the URL linked in, as chatstore.Open does;
// the server and the CLI link every backend.
var storeTypes = map[string]string{
	"haystack_experimental.chat_message_stores.in_memory.InMemoryChatMessageStore": "memory://haystack",
}

// LoadStore builds a Store from a Haystack chat message store dictionary
// {"type": ..., "init_parameters": {...}}. It does not modify data.
func LoadStore(ctx context.Context, data map[string]any) (*chatstore.Store, error) {
	typ, ok := data["type"]
	if !ok {
		return nil, fmt.Errorf("component: %w: missing 'type' in the store's serialization data", chatstore.ErrDeserialization)
	}
	name, ok := typ.(string)
	if !ok {
		return nil, fmt.Errorf("component: %w: the store's 'type' must be a string, got %T", chatstore.ErrDeserialization, typ)
	}
	storeURL, ok := storeTypes[name]
	if !ok {
		known := slices.Sorted(maps.Keys(storeTypes))
		return nil, fmt.Errorf("component: %w: unknown store type %q (known: %s)", chatstore.ErrDeserialization, name, strings.Join(known, ", "))
	}
	params := map[string]any{}
	if raw, ok := data["init_parameters"]; ok && raw != nil {
		p, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("component: %w: %s: init_parameters must be an object, got %T", chatstore.ErrDeserialization, name, raw)
		}
		params = p
	}
	var opts chatstore.Options
	if v, ok := params["skip_system_messages"]; ok {
		skip, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("component: %w: %s: skip_system_messages must be a boolean, got %T", chatstore.ErrDeserialization, name, v)
		}
		opts.KeepSystemMessages = !skip
	}
	if v, ok := params["last_k"]; ok {
		k, err := lastKParam(v)
		if err != nil {
			return nil, fmt.Errorf("component: %w: %s: %w", chatstore.ErrDeserialization, name, err)
		}
		opts.LastK = k
	}
	for k := range params {
		if k != "skip_system_messages" && k != "last_k" {
			return nil, fmt.Errorf("component: %w: unknown init parameter %q for %s (it takes skip_system_messages and last_k)", chatstore.ErrDeserialization, k, name)
		}
	}
	return chatstore.Open(ctx, storeURL, &opts)
}

// lastKParam reads a store's last_k init parameter: a number of rounds, or
// null for all. 0, which Haystack allows, makes every default retrieve
// return nothing (NoHistory).
func lastKParam(v any) (int, error) {
	k, err := chatstore.LastKValue(v, chatstore.All)
	if err != nil {
		return 0, err
	}
	return chatstore.StoreLastK(k), nil
}

// StoreDict returns a store as a Haystack chat message store dictionary, for
// pipeline files. It fails for a store whose driver does not implement
// driver.HaystackTyper.
func StoreDict(st *chatstore.Store) (map[string]any, error) {
	if p := st.Prefix(); p != "" {
		// Loading the dictionary would give a store of every history.
		return nil, fmt.Errorf("component: %w: a view of a store under the prefix %q has no Haystack serialization: Haystack's stores have no prefix", chatstore.ErrNotSupported, p)
	}
	t, ok := st.Driver().(driver.HaystackTyper)
	if !ok {
		return nil, fmt.Errorf("component: the %T backend has no Haystack serialization", st.Driver())
	}
	name, params := t.HaystackType()
	init := maps.Clone(params)
	if init == nil {
		init = map[string]any{}
	}
	opts := st.Options()
	init["skip_system_messages"] = !opts.KeepSystemMessages
	if opts.LastK == chatstore.All {
		init["last_k"] = nil
	} else {
		init["last_k"] = st.DefaultLastK()
	}
	return map[string]any{"type": name, "init_parameters": init}, nil
}
