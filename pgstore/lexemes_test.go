package pgstore_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/pgstore"
)

// TestTSVectorOf: what the client makes of a text is exactly what
// to_tsvector('simple', text) makes, or the client leaves the text to
// to_tsvector: for random texts of words, digits and both, words
// repeated up to and past the places a lexeme keeps, texts up to and past
// the last place, and words up to and past the longest indexed.
func TestTSVectorOf(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	rnd := rand.New(rand.NewPCG(1, 2))
	// Words the client makes lexemes of: letters, digits, letters then
	// digits; a word that starts with a digit and has letters it leaves to
	// to_tsvector (below).
	vocab := []string{"a", "the", "cat", "4", "42", "007", "x2y", "cat4", "0", "refund", "zz9", "e9", "x1e5"}
	word := func() string {
		switch rnd.IntN(8) {
		case 0:
			return strconv.Itoa(rnd.IntN(100000))
		case 1:
			return strconv.FormatUint(rnd.Uint64(), 10) + strconv.FormatUint(rnd.Uint64(), 10)
		}
		if rnd.IntN(5) == 0 {
			b := make([]byte, 1+rnd.IntN(12))
			b[0] = "abcdefghijklmnopqrstuvwxyz"[rnd.IntN(26)]
			for i := range b[1:] {
				b[i+1] = "abcdefghijklmnopqrstuvwxyz0123456789"[rnd.IntN(36)]
			}
			return string(b)
		}
		return vocab[rnd.IntN(len(vocab))]
	}
	text := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = word()
		}
		return strings.Join(ws, " ")
	}
	distinct := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = "w" + strconv.Itoa(i)
		}
		return strings.Join(ws, " ")
	}
	// n words of size letters each, each there times: more bytes of
	// lexemes, repeats counted, than their tsvector holds.
	repeated := func(n, size, times int) string {
		ws := make([]string, 0, n*times)
		for i := range n {
			w := strings.Repeat(string(rune('a'+i)), size)
			for range times {
				ws = append(ws, w)
			}
		}
		return strings.Join(ws, " ")
	}
	type tc struct {
		name, text string
		made       bool // whether the client makes it
	}
	cases := []tc{
		{"empty", "", true},
		{"255 repeats", strings.TrimSpace(strings.Repeat("cat ", 255)) + " dog", true},
		{"256 repeats", strings.TrimSpace(strings.Repeat("cat ", 256)), false},
		{"16383 words", distinct(16383), true},
		{"16384 words", distinct(16384), false},
		{"a number and letters", "a 7e9uu", false},
		{"a number in e", "7e9 b", false},
		{"digits then letters", "4cat", false},
		{"a word of 2046 bytes", "a " + strings.Repeat("x", 2046) + " b", true},
		{"a word of 2047 bytes", "a " + strings.Repeat("x", 2047) + " b", false},
		{"repeated long words past a megabyte", repeated(10, 1100, 100), false},
		{"repeated long words within a megabyte", repeated(10, 1000, 100), true},
		{"not ASCII", "caf\u00e9 au lait", false},
		{"upper case", "Cat", false},
		{"two spaces", "a  b", false},
		{"a mark", "a-b", false},
	}
	for i := range 300 {
		cases = append(cases, tc{"random " + strconv.Itoa(i), text(1 + rnd.IntN(300)), true})
	}
	made := 0
	for _, c := range cases {
		tsv, ok := pgstore.TSVectorOf(c.text)
		if ok && strings.HasPrefix(c.name, "random") {
			made++
		}
		if ok != c.made {
			t.Errorf("%s: made %v, want %v", c.name, ok, c.made)
			continue
		}
		if !ok {
			continue
		}
		var same bool
		var want string
		err := pool.QueryRow(ctx, "SELECT coalesce(to_tsvector('simple', nullif($2, ''))::text, ''), "+
			"coalesce(nullif($1, '')::tsvector = to_tsvector('simple', nullif($2, '')), $1 = '' AND $2 = '')", tsv, c.text).Scan(&want, &same)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !same {
			short := func(s string) string { return s[:min(len(s), 200)] }
			t.Errorf("%s: the client made %q…, to_tsvector %q…", c.name, short(tsv), short(want))
		}
	}
	if made != 300 {
		t.Errorf("the client made %d of the 300 random texts", made)
	}
}

// TestMakesLexemes: the client makes tsvectors under "simple", not under
// a configuration that stems words and drops stop words.
func TestMakesLexemes(t *testing.T) {
	pool := testPool(t)
	for name, want := range map[string]bool{"simple": true, "pg_catalog.simple": true, "": true, "english": false} {
		got, err := pgstore.MakesLexemes(t.Context(), pool, name)
		if err != nil || got != want {
			t.Errorf("%q: %v (%v), want %v", name, got, err, want)
		}
	}
}

// TestMakesLexemesOfACopy: a configuration of its own, even a copy of
// "simple", has its tsvectors made by to_tsvector: it may be changed on
// words no probe holds.
func TestMakesLexemesOfACopy(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	schema := "chatstore_test_cfg_" + strconv.FormatUint(rand.Uint64(), 36)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema+"; CREATE TEXT SEARCH CONFIGURATION "+schema+".simple (COPY = pg_catalog.simple)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	got, err := pgstore.MakesLexemes(ctx, pool, schema+".simple")
	if err != nil || got {
		t.Errorf("a copy of simple: %v (%v), want false", got, err)
	}
}
