package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestShowTextNamesToolResults checks that the text transcript names the
// tool of each result. A result written in OpenAI's format names only the
// call's id, so its tool is the one of the latest call before it with that
// id; providers reuse ids such as call_1 from turn to turn.
func TestShowTextNamesToolResults(t *testing.T) {
	store := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	e := newEnv(nil)
	e.Stdin = strings.NewReader(`{"role": "user", "content": "Weather, then time, in Paris?"}
{"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}
{"role": "tool", "content": "18 °C", "tool_call_id": "call_1"}
{"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{\"city\": \"Paris\"}"}}]}
{"role": "tool", "content": "14:05", "tool_call_id": "call_1"}
{"role": "tool", "content": "late", "tool_call_id": "call_9"}
{"role": "assistant", "content": "18 °C at 14:05."}
`)
	if err := Run(context.Background(), e.Env, []string{"import", "--history", "h", "--format", "openai", "--store", store}); err != nil {
		t.Fatal(err)
	}
	e.Stdin = strings.NewReader(`{"role": "tool", "content": [{"tool_call_result": {"result": "ok", "origin": {"tool_name": "ping", "arguments": {}, "id": "call_1", "extra": null}, "error": true}}]}` + "\n")
	if err := Run(context.Background(), e.Env, []string{"import", "--history", "h", "--store", store}); err != nil {
		t.Fatal(err)
	}
	e.out.Reset()
	if err := Run(context.Background(), e.Env, []string{"show", "h", "--last-k", "all", "--format", "text", "--store", store}); err != nil {
		t.Fatal(err)
	}
	want := `user #0
  Weather, then time, in Paris?
assistant #1
  → get_weather({"city":"Paris"})
tool #2
  ← get_weather: 18 °C
assistant #3
  → get_time({"city":"Paris"})
tool #4
  ← get_time: 14:05
tool #5
  ← unknown tool (call_9): late
assistant #6
  18 °C at 14:05.
tool #7
  ← error: ping: ok
`
	if got := e.out.String(); got != want {
		t.Errorf("show --format text:\n%s\nwant\n%s", got, want)
	}
}
