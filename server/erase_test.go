package server

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestErase: DELETE /v1/histories with metadata filters erases the
// matching histories only, says how many, and counts the erasure in
// /metrics; a filter that does not parse deletes nothing.
func TestErase(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	for i, user := range []string{"u-42", "u-7", "u-42"} {
		id := "/v1/histories/h" + string(rune('0'+i))
		if r := f.do("POST", id+"/messages", `{"messages":[{"role":"user","content":[{"text":"hi"}],"meta":{}},{"role":"assistant","content":[{"text":"hello"}],"meta":{}}]}`); r.code != 200 {
			t.Fatalf("write: %d %s", r.code, r.body)
		}
		if r := f.do("PATCH", id, `{"metadata":{"user_id":"`+user+`"}}`); r.code != 200 {
			t.Fatalf("metadata: %d %s", r.code, r.body)
		}
	}
	for _, q := range []string{"metadata[]=x", "metadat[user_id]=u-42", "metadata[user_id]=u-42&metadata[user_id]=u-7"} {
		if r := f.do("DELETE", "/v1/histories?"+q, ""); r.code != 400 {
			t.Errorf("DELETE ?%s: %d %s", q, r.code, r.body)
		}
	}
	r := f.do("DELETE", "/v1/histories?metadata%5Buser_id%5D=u-42", "")
	var out struct {
		Erased struct{ Histories, Messages int } `json:"erased"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || r.code != 200 || out.Erased.Histories != 2 || out.Erased.Messages != 4 {
		t.Fatalf("erase: %d %s", r.code, r.body)
	}
	r = f.do("GET", "/v1/histories", "")
	if !strings.Contains(string(r.body), `"h1"`) || strings.Contains(string(r.body), `"h0"`) || strings.Contains(string(r.body), `"h2"`) {
		t.Errorf("after the erasure: %s", r.body)
	}
	if r := f.do("DELETE", "/v1/histories?metadata%5Buser_id%5D=u-42", ""); r.code != 200 || !strings.Contains(string(r.body), `"histories":0`) {
		t.Errorf("erasing again: %d %s", r.code, r.body)
	}
	if m := f.do("GET", "/metrics", ""); !strings.Contains(string(m.body), `chatstore_erased_total{what="histories"} 2`) || !strings.Contains(string(m.body), `chatstore_erased_total{what="erasures"} 2`) {
		t.Errorf("metrics: %s", m.body)
	}
}
