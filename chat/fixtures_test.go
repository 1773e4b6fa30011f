package chat_test

// The fixtures in testdata/ hold inputs and the outputs Haystack itself
// produced for them (haystack c7cb46c0: ChatMessage.from_dict(...).to_dict(),
// to_openai_dict_format, from_openai_dict_format). Cases marked go_rejects
// are inputs Haystack accepts only because Python does not check types; this
// package deliberately refuses them.

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/jsontest"
)

type fixture struct {
	Name               string          `json:"name"`
	Why                string          `json:"why"`
	Input              json.RawMessage `json:"input"`
	Message            json.RawMessage `json:"message"`
	RequireToolCallIDs bool            `json:"require_tool_call_ids"`
	Want               json.RawMessage `json:"want"`
	Error              string          `json:"error"`
	GoRejects          bool            `json:"go_rejects"`
}

func loadFixtures(t *testing.T, name string) []fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var fs []fixture
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 {
		t.Fatalf("%s holds no cases", name)
	}
	return fs
}

func TestHaystackDecodeFixtures(t *testing.T) {
	for _, f := range loadFixtures(t, "haystack_decode.json") {
		t.Run(f.Name, func(t *testing.T) {
			m, err := chat.Unmarshal(f.Input)
			if f.Error != "" || f.GoRejects {
				if err == nil {
					t.Fatalf("decoded %s, want an error (Haystack: %q; %s)", f.Input, f.Error, f.Why)
				}
				if !errors.Is(err, chat.ErrInvalidMessage) && !errors.Is(err, chat.ErrInvalidJSON) {
					t.Fatalf("error %v wraps neither sentinel", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal: %v (%s)", err, f.Why)
			}
			got, err := m.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			if diff := jsontest.Diff(got, f.Want); diff != "" {
				t.Errorf("%s\n got  %s\n want %s\n %s", f.Why, got, f.Want, diff)
			}
		})
	}
}

func TestOpenAIToFixtures(t *testing.T) {
	for _, f := range loadFixtures(t, "openai_to.json") {
		t.Run(f.Name, func(t *testing.T) {
			m, err := chat.Unmarshal(f.Message)
			if err != nil {
				if f.GoRejects {
					return
				}
				t.Fatalf("Unmarshal(message): %v", err)
			}
			got, err := m.MarshalOpenAI(chat.OpenAIOptions{RequireToolCallIDs: f.RequireToolCallIDs})
			if f.Error != "" || f.GoRejects {
				if err == nil {
					t.Fatalf("got %s, want an error (Haystack: %q)", got, f.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("MarshalOpenAI: %v (%s)", err, f.Why)
			}
			if diff := jsontest.Diff(got, f.Want); diff != "" {
				t.Errorf("%s\n got  %s\n want %s\n %s", f.Why, got, f.Want, diff)
			}
		})
	}
}

// openAIExtensions are inputs Haystack turns into nonsense (a text part
// whose text is a list) and this package converts part by part instead.
var openAIExtensions = map[string]bool{
	"lax_user_content_list":      true,
	"lax_assistant_content_list": true,
}

func TestOpenAIFromFixtures(t *testing.T) {
	for _, f := range loadFixtures(t, "openai_from.json") {
		t.Run(f.Name, func(t *testing.T) {
			m, err := chat.UnmarshalOpenAI(f.Input)
			if openAIExtensions[f.Name] {
				if err != nil {
					t.Fatalf("list content should convert part by part: %v", err)
				}
				return
			}
			if f.Error != "" || f.GoRejects {
				if err == nil {
					t.Fatalf("decoded %+v, want an error (Haystack: %q)", m, f.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalOpenAI: %v (%s)", err, f.Why)
			}
			got, err := m.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if diff := jsontest.Diff(got, f.Want); diff != "" {
				t.Errorf("%s\n got  %s\n want %s\n %s", f.Why, got, f.Want, diff)
			}
		})
	}
}
