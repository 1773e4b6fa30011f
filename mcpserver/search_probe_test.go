package mcpserver_test

import (
	"fmt"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/mcptest"
)

// TestProbeSearchMessagesMetadataPairsBounded (review probe): the tool
// takes any number of metadata pairs, where the HTTP API refuses more than
// chatstore.MaxMetadataPairs. On PostgreSQL each pair is a semi-join of
// the statement, and planning it grows steeply: 100 pairs took 1.5 s, 200
// more than 15 s, 2,000 pinned a backend at 100% CPU and 3 GB for over
// ten minutes. One tool call is enough.
func TestProbeSearchMessagesMetadataPairsBounded(t *testing.T) {
	st := openStore(t, "memory://")
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("refund")}); err != nil {
		t.Fatal(err)
	}
	cs := connect(t, st, limits)
	s, _ := mcptest.Tools(t, cs)
	md := map[string]any{}
	for i := range chatstore.MaxMetadataPairs + 1 {
		md[fmt.Sprint("k", i)] = "v"
	}
	s.Fails(t, "search_messages", map[string]any{"q": "refund", "metadata": md}, "invalid_metadata")
}
