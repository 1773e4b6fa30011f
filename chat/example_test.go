package chat_test

import (
	"fmt"
	"log"

	"github.com/chatstore/chatstore/chat"
)

// This is the example in the README; keep the two in step.
func Example() {
	call := chat.ToolCall{
		ID:        chat.Ptr("call_1"),
		ToolName:  "get_weather",
		Arguments: map[string]any{"city": "Paris"},
	}
	conversation := []chat.Message{
		chat.System("You are a helpful assistant."),
		chat.User("What's the weather in Paris?"),
		chat.Assistant("", call),
		chat.Tool(`{"temp_c": 22, "sky": "sunny"}`, call, false),
		chat.Assistant("It's 22 °C and sunny in Paris."),
	}
	for _, m := range conversation {
		b, err := m.MarshalJSON() // Haystack's ChatMessage.to_dict() shape
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(b))
	}

	// The same messages for OpenAI's Chat Completions API.
	b, err := conversation[2].MarshalOpenAI(chat.OpenAIOptions{RequireToolCallIDs: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))

	// And back from JSON, in any format Haystack has written.
	m, err := chat.Unmarshal([]byte(`{"_role": "user", "_content": [{"text": "Hi"}], "_meta": {}, "_name": null}`))
	if err != nil {
		log.Fatal(err)
	}
	text, _ := m.Text()
	fmt.Println(m.Role, text)

	// Output:
	// {"role":"system","meta":{},"name":null,"content":[{"text":"You are a helpful assistant."}]}
	// {"role":"user","meta":{},"name":null,"content":[{"text":"What's the weather in Paris?"}]}
	// {"role":"assistant","meta":{},"name":null,"content":[{"tool_call":{"tool_name":"get_weather","arguments":{"city":"Paris"},"id":"call_1","extra":null}}]}
	// {"role":"tool","meta":{},"name":null,"content":[{"tool_call_result":{"result":"{\"temp_c\": 22, \"sky\": \"sunny\"}","origin":{"tool_name":"get_weather","arguments":{"city":"Paris"},"id":"call_1","extra":null},"error":false}}]}
	// {"role":"assistant","meta":{},"name":null,"content":[{"text":"It's 22 °C and sunny in Paris."}]}
	// {"role":"assistant","tool_calls":[{"type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"},"id":"call_1"}]}
	// user Hi
}
