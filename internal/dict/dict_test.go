package dict

import (
	"encoding/json"
	"testing"
)

func TestInt(t *testing.T) {
	good := map[any]int{3: 3, int64(-2): -2, uint64(7): 7, 4.0: 4, json.Number("12"): 12}
	for v, want := range good {
		if got, ok := Int(v); !ok || got != want {
			t.Errorf("Int(%#v) = %d, %v; want %d", v, got, ok, want)
		}
	}
	for _, v := range []any{1.5, json.Number("1.5"), json.Number("1e400"), "3", nil, true, uint64(1 << 63), 1e300} {
		if got, ok := Int(v); ok {
			t.Errorf("Int(%#v) = %d, want not ok", v, got)
		}
	}
}
