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

// Bytes writes a size in bytes as the flags and limits give it: in MiB or
// KiB when it is a whole number of them ("8 MiB", "64 KiB"), otherwise in
// bytes ("2000 bytes", "1 byte").
func Bytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	case n == 1:
		return "1 byte"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
