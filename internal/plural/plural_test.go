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

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 bytes"}, {1, "1 byte"}, {2000, "2000 bytes"}, {64 << 10, "64 KiB"}, {8 << 20, "8 MiB"}, {1<<20 + 1<<10, "1025 KiB"}, {1<<20 + 1, "1048577 bytes"}} {
		if got := Bytes(c.n); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
