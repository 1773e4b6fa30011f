package chatstore

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/chatstore/chatstore/driver"
)

// Haystack pipelines serialize a chat message store as
//
//	{"type": "haystack_experimental.chat_message_stores.in_memory.InMemoryChatMessageStore",
//	 "init_parameters": {"skip_system_messages": true, "last_k": 10}}
//
// Backends register the type names they answer to; FromHaystack builds a
// Store from such a dictionary and Store.Haystack writes one.

// HaystackLoader builds a driver from the init_parameters of a registered
// Haystack store type. The store-wide parameters (skip_system_messages,
// last_k) have been taken out; any parameter left that the backend does not
// know must be an error. It must not modify params.
type HaystackLoader func(ctx context.Context, params map[string]any) (driver.Store, error)

// HaystackTyper is implemented by drivers that can be written as a Haystack
// store dictionary: it returns the type name and the backend's own
// init_parameters.
type HaystackTyper interface {
	HaystackType() (typeName string, params map[string]any)
}

var haystackTypes = registry[HaystackLoader]{what: "Haystack type"}

// RegisterHaystackType makes FromHaystack build stores of a Haystack type
// name with load. Backends call it from init; it panics on a duplicate name.
func RegisterHaystackType(typeName string, load HaystackLoader) {
	haystackTypes.add(typeName, load)
}

// HaystackTypes lists the registered Haystack store type names.
func HaystackTypes() []string { return haystackTypes.names() }

// FromHaystack builds a Store from a Haystack store dictionary {"type": ...,
// "init_parameters": {...}}. It does not modify data.
func FromHaystack(ctx context.Context, data map[string]any) (*Store, error) {
	typ, ok := data["type"]
	if !ok {
		return nil, fmt.Errorf("chatstore: %w: missing 'type' in the store's serialization data", ErrDeserialization)
	}
	name, ok := typ.(string)
	if !ok {
		return nil, fmt.Errorf("chatstore: %w: the store's 'type' must be a string, got %T", ErrDeserialization, typ)
	}
	load, ok := haystackTypes.get(name)
	if !ok {
		return nil, fmt.Errorf("chatstore: %w: unknown store type %q (known: %s; is its backend package imported?)", ErrDeserialization, name, strings.Join(HaystackTypes(), ", "))
	}
	params := map[string]any{}
	if raw, ok := data["init_parameters"]; ok && raw != nil {
		p, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("chatstore: %w: %s: init_parameters must be an object, got %T", ErrDeserialization, name, raw)
		}
		params = maps.Clone(p)
	}
	var opts Options
	if v, ok := params["skip_system_messages"]; ok {
		skip, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("chatstore: %w: %s: skip_system_messages must be a boolean, got %T", ErrDeserialization, name, v)
		}
		opts.KeepSystemMessages = !skip
		delete(params, "skip_system_messages")
	}
	if v, ok := params["last_k"]; ok {
		k, err := lastKParam(v)
		if err != nil {
			return nil, fmt.Errorf("chatstore: %w: %s: %w", ErrDeserialization, name, err)
		}
		opts.LastK = k
		delete(params, "last_k")
	}
	drv, err := load(ctx, params)
	if err != nil {
		return nil, err
	}
	return New(drv, &opts)
}

// lastKParam reads a store's last_k init parameter: a number of rounds, or
// null for all. 0, which Haystack allows, makes every default retrieve
// return nothing (NoHistory).
func lastKParam(v any) (int, error) {
	k, err := LastKValue(v, All)
	if err != nil {
		return 0, err
	}
	return storeLastK(k), nil
}

// Haystack returns the store as a Haystack store dictionary, for pipeline
// files. It fails for a driver that does not implement HaystackTyper.
func (s *Store) Haystack() (map[string]any, error) {
	t, ok := s.drv.(HaystackTyper)
	if !ok {
		return nil, fmt.Errorf("chatstore: the %T backend has no Haystack serialization", s.drv)
	}
	name, params := t.HaystackType()
	init := maps.Clone(params)
	if init == nil {
		init = map[string]any{}
	}
	init["skip_system_messages"] = !s.opts.KeepSystemMessages
	if s.opts.LastK == All {
		init["last_k"] = nil
	} else {
		init["last_k"] = s.DefaultLastK()
	}
	return map[string]any{"type": name, "init_parameters": init}, nil
}
