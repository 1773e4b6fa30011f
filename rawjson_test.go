package chatstore

import "testing"

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
