package chat_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

func addFixtureSeeds(f *testing.F, file string, field func(fixture) json.RawMessage) {
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		f.Fatal(err)
	}
	var fs []fixture
	if err := json.Unmarshal(b, &fs); err != nil {
		f.Fatal(err)
	}
	for _, fx := range fs {
		f.Add([]byte(field(fx)))
	}
}

// FuzzUnmarshal: decoding never panics, and whatever decodes re-encodes to
// JSON that decodes to the same message.
func FuzzUnmarshal(f *testing.F) {
	addFixtureSeeds(f, "haystack_decode.json", func(fx fixture) json.RawMessage { return fx.Input })
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := chat.Unmarshal(data)
		if err != nil {
			if _, ok := err.(*chat.Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		out, err := m.MarshalJSON()
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", data, err)
		}
		back, err := chat.Unmarshal(out)
		if err != nil {
			t.Fatalf("own output %s does not decode: %v", out, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip changed the message:\n in  %q\n out %s\n %#v\n %#v", data, out, m, back)
		}
		again, err := back.MarshalJSON()
		if err != nil || string(again) != string(out) {
			t.Fatalf("encoding is not stable: %s vs %s", out, again)
		}
		// Converting to OpenAI never panics either.
		_, _ = m.MarshalOpenAI(chat.OpenAIOptions{RequireToolCallIDs: true})
	})
}

// FuzzUnmarshalOpenAI: decoding OpenAI messages never panics, and a decoded
// message always encodes in both formats.
func FuzzUnmarshalOpenAI(f *testing.F) {
	addFixtureSeeds(f, "openai_from.json", func(fx fixture) json.RawMessage { return fx.Input })
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := chat.UnmarshalOpenAI(data)
		if err != nil {
			if _, ok := err.(*chat.Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		out, err := m.MarshalJSON()
		if err != nil {
			t.Fatalf("cannot encode %#v: %v", m, err)
		}
		back, err := chat.Unmarshal(out)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("Haystack round trip: %v\n%#v\n%#v", err, m, back)
		}
		if _, err := m.MarshalOpenAI(chat.OpenAIOptions{}); err != nil {
			t.Fatalf("decoded from OpenAI but cannot encode back: %v (%#v)", err, m)
		}
	})
}
