package chatstore

import (
	"runtime"
	"strings"
	"testing"
)

// TestAppendWithIDOddBodies feeds the id inserter bodies no store writes:
// it must refuse them (so the caller decodes and reports), never panic.
func TestAppendWithIDOddBodies(t *testing.T) {
	for _, body := range []string{
		``, `{`, `{"role":"user"`, `{"role":"user","meta":{`, `{"role":"user","meta":{"a"`,
		`{"role":"user","meta":{"a":1`, `{"role":"user","meta":{"a":1,`, `{"role":"user","meta":{"chat_message_id":"x"},"content":[]}`,
		`{"meta":{},"role":"user","content":[]}`, `{"role": "user", "meta": {}}`,
	} {
		if out, ok := appendWithID([]byte("x"), []byte(body), "1"); ok || string(out) != "x" {
			t.Errorf("%q: %q %v, want it refused and dst untouched", body, out, ok)
		}
	}
	out, ok := appendWithID(nil, []byte(`{"role":"user","meta":{"a":1,"z":2},"name":null,"content":[]}`), "7")
	if !ok || string(out) != `{"role":"user","meta":{"a":1,"chat_message_id":"7","z":2},"name":null,"content":[]}` {
		t.Errorf("%s %v", out, ok)
	}
}

// TestAppendWithIDCopiesNothing: the id goes into a large message's meta
// without a copy of the message: what a call allocates is far less than
// the message.
func TestAppendWithIDCopiesNothing(t *testing.T) {
	text := strings.Repeat("x", 1<<20)
	body := []byte(`{"role":"user","meta":{"a":1,"z":2},"name":null,"content":[{"text":"` + text + `"}]}`)
	want := `{"role":"user","meta":{"a":1,"chat_message_id":"7","z":2},"name":null,"content":[{"text":"` + text + `"}]}`
	dst := make([]byte, 0, len(want))
	const runs = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		out, ok := appendWithID(dst[:0], body, "7")
		if !ok || string(out) != want {
			t.Fatalf("appendWithID: %v, %.100s…", ok, out)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 64<<10 {
		t.Errorf("appendWithID allocates %d bytes for a message of %d", per, len(body))
	}
}
