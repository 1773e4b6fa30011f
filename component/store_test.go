package component_test

import (
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/component"
	"github.com/chatstore/chatstore/driver"
)

func TestStoreDict(t *testing.T) {
	st, _ := chatstore.Open(t.Context(), "memory://?skip_system_messages=false&last_k=all", nil)
	d, err := component.StoreDict(st)
	if err != nil {
		t.Fatal(err)
	}
	init := d["init_parameters"].(map[string]any)
	if d["type"] != "haystack_experimental.chat_message_stores.in_memory.InMemoryChatMessageStore" || init["skip_system_messages"] != false || init["last_k"] != nil {
		t.Errorf("dict = %v", d)
	}
	back, err := component.LoadStore(t.Context(), d)
	if err != nil || back.Options().LastK != chatstore.All || !back.Options().KeepSystemMessages {
		t.Errorf("LoadStore: %+v %v", back.Options(), err)
	}
	plain, _ := chatstore.New(nopDriver{}, nil)
	if _, err := component.StoreDict(plain); err == nil {
		t.Errorf("a driver without a Haystack type serialized")
	}
}

type nopDriver struct{ driver.Store }

func (nopDriver) Close() error { return nil }

// TestStoreLastKZero: a store whose last_k is 0, as Haystack allows, is
// written with last_k 0 and loads back as one whose default read returns
// nothing.
func TestStoreLastKZero(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "memory://?last_k=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := component.StoreDict(st)
	if err != nil {
		t.Fatal(err)
	}
	if k := d["init_parameters"].(map[string]any)["last_k"]; k != 0 {
		t.Errorf("Haystack dict last_k = %v, want 0", k)
	}
	back, err := component.LoadStore(t.Context(), d)
	if err != nil {
		t.Fatalf("loading the dict back: %v", err)
	}
	defer back.Close()
	if back.DefaultLastK() != 0 || back.Options().LastK != chatstore.NoHistory {
		t.Errorf("loaded back: last_k %d", back.DefaultLastK())
	}
}
