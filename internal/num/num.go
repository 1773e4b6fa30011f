// Package num reads the whole numbers of the HTTP API's queries and the
// store URL, with one grammar: decimal digits only, no sign, no spaces.
// strconv.Atoi alone takes "+5" and "-0", which no client means.
package num

import "strconv"

// Parse reads s as a whole number ≥ 0 in decimal digits. ok is false when
// s is anything else; big is true, with n 0, for digits beyond an int.
func Parse(s string) (n int, big, ok bool) {
	if s == "" {
		return 0, false, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil { // digits only, so out of range
		return 0, true, true
	}
	return n, false, true
}
