// Package plural writes counts with their noun: "1 message", "2 messages".
package plural

import "strconv"

// Count returns n followed by one if n is 1, by many otherwise: Count(1,
// "history", "histories") is "1 history", Count(0, …) "0 histories".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
