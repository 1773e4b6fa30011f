package plural

import "testing"

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 histories"}, {1, "1 history"}, {2, "2 histories"}, {-1, "-1 histories"}, {1000, "1000 histories"}} {
		if got := Count(c.n, "history", "histories"); got != c.want {
			t.Errorf("Count(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
