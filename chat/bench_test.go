package chat_test

import (
	"encoding/json"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

// benchMessage is a typical assistant turn with one tool call, about 450
// bytes of JSON: the message the targets (encode <= 2 µs, decode <= 3
// µs) are stated for.
func benchMessage() chat.Message {
	return chat.Message{
		Role: chat.RoleAssistant,
		Meta: map[string]any{
			"model":         "gpt-4o-mini-2024-07-18",
			"index":         json.Number("0"),
			"finish_reason": "tool_calls",
			"usage":         map[string]any{"prompt_tokens": json.Number("412"), "completion_tokens": json.Number("37"), "total_tokens": json.Number("449")},
		},
		Content: []chat.Part{
			chat.Text{Text: "Let me look up the current weather in Berlin for you, and I will also check tomorrow's forecast."},
			chat.ToolCall{
				ToolName:  "get_weather",
				Arguments: map[string]any{"location": "Berlin, DE", "unit": "celsius", "days": json.Number("2")},
				ID:        chat.Ptr("call_Qx7mZk2vB9sT4wLpR8nYc3Ad"),
			},
		},
	}
}

func BenchmarkEncode(b *testing.B) {
	m := benchMessage()
	buf, err := m.AppendJSON(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, err = m.AppendJSON(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalJSON(b *testing.B) {
	m := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	data, err := benchMessage().MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := chat.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeOpenAI(b *testing.B) {
	m := benchMessage()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = m.AppendOpenAI(buf[:0], chat.OpenAIOptions{RequireToolCallIDs: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOpenAI(b *testing.B) {
	data, err := benchMessage().MarshalOpenAI(chat.OpenAIOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := chat.UnmarshalOpenAI(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClone(b *testing.B) {
	m := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Clone()
	}
}

// The same message through encoding/json into a generic map, for scale.
func BenchmarkDecodeStdlibMap(b *testing.B) {
	data, _ := benchMessage().MarshalJSON()
	b.ReportAllocs()
	for b.Loop() {
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}
