package component_test

import (
	"context"
	"fmt"
	"log"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/component"
	_ "github.com/chatstore/chatstore/memstore" // registers memory://
)

// This is the example in the README; keep the two in step.
func Example() {
	ctx := context.Background()
	store, err := chatstore.Open(ctx, "memory://?last_k=2", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	writer := component.NewWriter(store)
	retriever := component.NewRetriever(store)
	retriever.LastK = component.StoreDefault // use the store's last_k (2 rounds)

	call := chat.ToolCall{ID: chat.Ptr("call_1"), ToolName: "get_weather", Arguments: map[string]any{"city": "Paris"}}
	_, err = writer.Run(ctx, "session-42", []chat.Message{
		chat.System("You are a helpful assistant."), // not stored: skip_system_messages
		chat.User("Hi!"),
		chat.Assistant("Hello! How can I help?"),
		chat.User("What's the weather in Paris?"),
		chat.Assistant("", call),
		chat.Tool("22 °C, sunny", call, false),
		chat.Assistant("It's 22 °C and sunny."),
		chat.User("And in Rome?"),
		chat.Assistant("Let me check."),
	})
	if err != nil {
		log.Fatal(err)
	}

	// What to send to the model next: the current system prompt, the last
	// two rounds (a tool call always with its result), the new question.
	msgs, err := retriever.Run(ctx, "session-42", component.RunOptions{
		CurrentMessages: []chat.Message{chat.System("Answer in one sentence."), chat.User("Thanks! And tomorrow?")},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		text, _ := m.Text()
		if r, ok := m.ToolCallResult(); ok {
			text = "result: " + r.Result
		} else if c, ok := m.ToolCall(); ok {
			text = "calls " + c.ToolName
		}
		fmt.Printf("%-9s %-4v %s\n", m.Role, m.Meta[chatstore.MessageIDKey], text)
	}
	// Output:
	// system    <nil> Answer in one sentence.
	// user      2    What's the weather in Paris?
	// assistant 3    calls get_weather
	// tool      4    result: 22 °C, sunny
	// assistant 5    It's 22 °C and sunny.
	// user      6    And in Rome?
	// assistant 7    Let me check.
	// user      <nil> Thanks! And tomorrow?
}
