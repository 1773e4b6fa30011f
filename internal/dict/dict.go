// Package dict reads values out of decoded Haystack dictionaries, which come
// from JSON (json.Number or float64), YAML (int, uint64, float64) or Go code.
package dict

import (
	"encoding/json"
	"math"
)

// Int returns v as an int if it is a whole number of any of those types.
func Int(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case uint64:
		return int(min(n, math.MaxInt)), n <= math.MaxInt
	case float64:
		return int(n), n == math.Trunc(n) && math.Abs(n) < 1<<53
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}
