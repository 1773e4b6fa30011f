// Package jsontest compares JSON documents by value, for tests that check
// chatstore's output against Haystack's.
package jsontest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Diff compares two JSON documents as values and describes the first
// difference. Numbers must agree in value and in being integers or not (1 and
// 1.0 differ). Two spellings are treated as equal on purpose:
//   - "" and null for mime_type, filename and detail, which Haystack treats
//     alike and this package writes as null;
//   - an OpenAI "arguments" string is compared as the JSON it holds, since
//     Go maps do not keep Python's key insertion order; when Python's keys
//     happen to be sorted, the strings must match byte for byte.
func Diff(a, b []byte) string {
	return diff(a, b, "")
}

func diff(a, b []byte, path string) string {
	va, err := decodeUseNumber(a)
	if err != nil {
		return "bad JSON: " + err.Error()
	}
	vb, err := decodeUseNumber(b)
	if err != nil {
		return "bad JSON: " + err.Error()
	}
	return valueDiff(va, vb, path)
}

func decodeUseNumber(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func valueDiff(a, b any, path string) string {
	key := path[strings.LastIndex(path, ".")+1:]
	switch key {
	case "mime_type", "filename", "detail":
		if (a == nil || a == "") && (b == nil || b == "") {
			return ""
		}
	case "arguments":
		sa, okA := a.(string)
		sb, okB := b.(string)
		if okA && okB {
			if d := diff([]byte(sa), []byte(sb), path+"(json)"); d != "" {
				return d
			}
			if sa != sb && keysSorted(sb) && !strings.ContainsAny(sb, "eE.") {
				return fmt.Sprintf("%s: arguments spelled %q, Python spells %q", path, sa, sb)
			}
			return ""
		}
	}
	switch va := a.(type) {
	case map[string]any:
		vb, ok := b.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: object vs %T", path, b)
		}
		keys := make([]string, 0, len(va)+len(vb))
		for k := range va {
			keys = append(keys, k)
		}
		for k := range vb {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			x, inA := va[k]
			y, inB := vb[k]
			if !inA || !inB {
				return fmt.Sprintf("%s.%s: present in only one side (got %v, want %v)", path, k, inA, inB)
			}
			if d := valueDiff(x, y, path+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []any:
		vb, ok := b.([]any)
		if !ok || len(va) != len(vb) {
			return fmt.Sprintf("%s: %v vs %v", path, a, b)
		}
		for i := range va {
			if d := valueDiff(va[i], vb[i], path+"["+strconv.Itoa(i)+"]"); d != "" {
				return d
			}
		}
		return ""
	case json.Number:
		vb, ok := b.(json.Number)
		if !ok || !sameNumber(va, vb) {
			return fmt.Sprintf("%s: number %v vs %v", path, a, b)
		}
		return ""
	}
	if a != b {
		return fmt.Sprintf("%s: %#v vs %#v", path, a, b)
	}
	return ""
}

func sameNumber(a, b json.Number) bool {
	isFloat := func(n json.Number) bool { return strings.ContainsAny(string(n), ".eE") }
	if isFloat(a) != isFloat(b) {
		return false
	}
	if !isFloat(a) {
		x, okX := new(big.Int).SetString(string(a), 10)
		y, okY := new(big.Int).SetString(string(b), 10)
		return okX && okY && x.Cmp(y) == 0
	}
	x, errX := strconv.ParseFloat(string(a), 64)
	y, errY := strconv.ParseFloat(string(b), 64)
	if math.IsInf(x, 0) || math.IsInf(y, 0) {
		return string(a) == string(b)
	}
	return errX == nil && errY == nil && x == y
}

// keysSorted reports whether every object in the JSON text has its keys in
// sorted order, scanning the text so the original order is visible.
func keysSorted(s string) bool {
	d := json.NewDecoder(strings.NewReader(s))
	type frame struct {
		obj  bool
		last string
		key  bool
	}
	var stack []frame
	for {
		tok, err := d.Token()
		if err != nil {
			return true
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				stack = append(stack, frame{obj: true, key: true})
				continue
			case '[':
				stack = append(stack, frame{})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].key {
				if tok < stack[n-1].last {
					return false
				}
				stack[n-1].last = tok
				stack[n-1].key = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].key = true
		}
	}
}
