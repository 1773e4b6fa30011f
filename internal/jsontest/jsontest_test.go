package jsontest

import "testing"

func TestDiff(t *testing.T) {
	same := [][2]string{
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`},
		{`{"mime_type":null}`, `{"mime_type":""}`},
		{`{"x":1.0}`, `{"x":1.00}`},
		{`{"arguments":"{\"a\": 2, \"b\": 1}"}`, `{"arguments":"{\"b\": 1, \"a\": 2}"}`},
		{`{"n":1180591620717411303424}`, `{"n":1180591620717411303424}`},
	}
	for _, c := range same {
		if d := Diff([]byte(c[0]), []byte(c[1])); d != "" {
			t.Errorf("%s vs %s: %s", c[0], c[1], d)
		}
	}
	differ := [][2]string{
		{`{"a":1}`, `{"a":2}`},
		{`{"a":1}`, `{"a":1.0}`},
		{`{"a":1}`, `{"b":1}`},
		{`[1,2]`, `[1]`},
		{`{"text":null}`, `{"text":""}`},
		{`{"arguments":"{\"a\":1}"}`, `{"arguments":"{\"a\": 1}"}`},
		{`{"n":1180591620717411303424}`, `{"n":1180591620717411303425}`},
		{`{`, `{}`},
	}
	for _, c := range differ {
		if d := Diff([]byte(c[0]), []byte(c[1])); d == "" {
			t.Errorf("%s vs %s: no difference found", c[0], c[1])
		}
	}
}
