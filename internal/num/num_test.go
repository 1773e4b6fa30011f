package num

import "testing"

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in      string
		n       int
		big, ok bool
	}{
		{"0", 0, false, true}, {"42", 42, false, true}, {"007", 7, false, true},
		{"9223372036854775807", 9223372036854775807, false, true},
		{"9223372036854775808", 0, true, true}, {"99999999999999999999999", 0, true, true},
		{"", 0, false, false}, {"+1", 0, false, false}, {"-0", 0, false, false}, {"-1", 0, false, false},
		{" 1", 0, false, false}, {"1 ", 0, false, false}, {"1.0", 0, false, false}, {"1e3", 0, false, false},
		{"0x10", 0, false, false}, {"1_000", 0, false, false}, {"٣", 0, false, false},
	} {
		n, big, ok := Parse(c.in)
		if n != c.n || big != c.big || ok != c.ok {
			t.Errorf("Parse(%q) = %d %v %v, want %d %v %v", c.in, n, big, ok, c.n, c.big, c.ok)
		}
	}
}
