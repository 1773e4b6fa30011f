package driver

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// referenceLastK is Haystack's _get_last_k_messages over kinds, written as
// Haystack writes it, forwards: group the messages into rounds, keep the
// last k. It returns the positions kept.
func referenceLastK(kinds []Kind, k int) []int64 {
	var rounds [][]int64
	var cur []int64
	for i, kd := range kinds {
		switch kd {
		case Alone:
			rounds = append(rounds, []int64{int64(i)})
		case Closes:
			rounds = append(rounds, append(cur, int64(i)))
			cur = nil
		default:
			cur = append(cur, int64(i))
		}
	}
	if len(cur) > 0 {
		rounds = append(rounds, cur)
	}
	if k < len(rounds) {
		rounds = rounds[len(rounds)-k:]
	}
	var out []int64
	for _, r := range rounds {
		out = append(out, r...)
	}
	slices.Sort(out)
	return out
}

func messagesOf(kinds []Kind) []Message {
	msgs := make([]Message, len(kinds))
	for i, kd := range kinds {
		msgs[i] = Message{ID: strconv.Itoa(i), JSON: []byte("{}"), Pos: int64(i), Kind: kd}
	}
	return msgs
}

func positions(msgs []Message) []int64 {
	out := []int64{}
	for _, m := range msgs {
		out = append(out, m.Pos)
	}
	return out
}

// TestLastRoundsModel: on random conversations, with many system messages
// and long open rounds, LastRounds keeps what Haystack keeps, and reads no
// further back than the message before the tail's first.
func TestLastRoundsModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 3000 {
		n := rng.IntN(30)
		kinds := make([]Kind, n)
		for i := range kinds {
			kinds[i] = Kind(rng.IntN(3))
			if iter%3 == 0 && rng.IntN(2) == 0 {
				kinds[i] = Alone // runs of system messages
			}
		}
		msgs := messagesOf(kinds)
		for _, k := range []int{1, 2, 3, 4, 7, 100, math.MaxInt} {
			want := referenceLastK(kinds, k)
			read := 0
			back := Backwards(msgs)
			counted := func() (Message, bool, error) {
				m, ok, err := back()
				if ok {
					read++
				}
				return m, ok, err
			}
			got, err := LastRounds(k, 0, counted)
			if err != nil {
				t.Fatal(err)
			}
			if g := positions(got); !slices.Equal(g, append([]int64{}, want...)) && !(len(g) == 0 && len(want) == 0) {
				t.Fatalf("kinds %v, last_k %d: got %v, want %v", kinds, k, g, want)
			}
			// The walk reads back to c, the newest Closes older than the
			// oldest closer kept, and no further.
			b := int64(n)
			for _, p := range want {
				if kinds[p] != Joins {
					b = min(b, p)
				}
			}
			wantRead := n
			for c := b - 1; c >= 0; c-- {
				if kinds[c] == Closes {
					wantRead = n - int(c)
					break
				}
			}
			if read != wantRead {
				t.Fatalf("kinds %v, last_k %d: read %d messages, want %d", kinds, k, read, wantRead)
			}
		}
	}
}

// TestLastRoundsUndecided: a run of system messages after an open round:
// the rounds-th of them is in the tail only if no round is open, which is
// known only once the walk reaches the message before the run.
func TestLastRoundsUndecided(t *testing.T) {
	tests := []struct {
		kinds []Kind
		k     int
		want  []int64
	}{
		{[]Kind{Joins, Alone, Alone}, 2, []int64{0, 2}},
		{[]Kind{Closes, Alone, Alone}, 2, []int64{1, 2}},
		{[]Kind{Joins, Alone}, 1, []int64{0}},
		{[]Kind{Alone, Alone}, 2, []int64{0, 1}},
		{[]Kind{Alone, Alone, Alone}, 2, []int64{1, 2}},
	}
	for _, tt := range tests {
		got, err := LastRounds(tt.k, 0, Backwards(messagesOf(tt.kinds)))
		if err != nil {
			t.Fatal(err)
		}
		if g := positions(got); !slices.Equal(g, tt.want) {
			t.Errorf("kinds %v, last_k %d: got %v, want %v", tt.kinds, tt.k, g, tt.want)
		}
	}
}

// TestLastRoundsMaxBytes: the bound counts only the messages kept, and a
// read over it stops early.
func TestLastRoundsMaxBytes(t *testing.T) {
	kinds := []Kind{Joins, Closes, Alone, Joins, Closes, Joins} // 2 bytes each
	msgs := messagesOf(kinds)
	// last 2 rounds: 3, 4, 5 (the system message at 2 is older).
	if got, err := LastRounds(2, 6, Backwards(msgs)); err != nil || len(got) != 3 {
		t.Errorf("at the bound: %v, %v", positions(got), err)
	}
	if _, err := LastRounds(2, 5, Backwards(msgs)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the bound: %v", err)
	}
	// The undecided message counts only once it is kept.
	und := messagesOf([]Kind{Joins, Alone, Alone})
	if got, err := LastRounds(2, 4, Backwards(und)); err != nil || !slices.Equal(positions(got), []int64{0, 2}) {
		t.Errorf("undecided, dropped: %v, %v", positions(got), err)
	}
	und = messagesOf([]Kind{Closes, Alone, Alone})
	if _, err := LastRounds(2, 3, Backwards(und)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("undecided, kept, over: %v", err)
	}
}

// TestLastRoundsIteratorError: an error from the reader ends the read.
func TestLastRoundsIteratorError(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	_, err := LastRounds(1, 0, func() (Message, bool, error) {
		if calls++; calls == 1 {
			return Message{Kind: Joins, Pos: 3}, true, nil
		}
		return Message{}, false, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
}
