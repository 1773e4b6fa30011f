// Package chattest holds conversations that the tests of several packages
// share.
package chattest

import (
	"strings"

	"github.com/chatstore/chatstore/chat"
)

// AgentTurns is a history of twelve messages for token budgets and
// compactions: an agent's turn (#0–#3) whose tool result (#2) is large
// enough to be pruned, a plain round (#4–#5), a second agent turn (#6–#9)
// with another such result (#8), and a last plain round (#10–#11).
func AgentTurns() []chat.Message {
	big := strings.Repeat("sunny and warm, ", 150)
	c1 := chat.ToolCall{ToolName: "get_weather", Arguments: map[string]any{"city": "Paris"}, ID: chat.Ptr("call_1")}
	c2 := chat.ToolCall{ToolName: "get_weather", Arguments: map[string]any{"city": "Rome"}, ID: chat.Ptr("call_2")}
	return []chat.Message{
		chat.User("Weather in Paris?"), chat.Assistant("", c1), chat.Tool(big, c1, false), chat.Assistant("Sunny."),
		chat.User("Thanks."), chat.Assistant("You're welcome."),
		chat.User("And Rome?"), chat.Assistant("", c2), chat.Tool(big, c2, false), chat.Assistant("Sunny too."),
		chat.User("Tomorrow?"), chat.Assistant("I cannot tell."),
	}
}
