package pgstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A message's tsvector is made in the client when it can be made exactly:
// to_tsvector is a quarter of the time of a batch INSERT with search
// (docs/BENCHMARKS.md), and the tsvector of an indexText of ASCII words,
// under a configuration that keeps each word as it is (the default,
// "simple"), is only its words and their places. What the client cannot
// make exactly (other scripts, whose words PostgreSQL's parser splits by
// the database's locale; more words or repeats than a tsvector keeps
// places for) is left to to_tsvector, as is everything under a
// configuration that stems or drops words. Either way a row holds what
// to_tsvector gives, so rows made either way, and by earlier versions,
// are found by the same tsquery.

// Limits of a tsvector that to_tsvector applies (MAXENTRYPOS, MAXNUMPOS,
// MAXSTRLEN in PostgreSQL's tsvector.h): a lexeme keeps its first 255
// places, places past 16,383 all become 16,383, and a word of 2,047 bytes
// or more is not indexed (indexText has no such word: package search
// drops them, search.MaxTokenBytes). tsvectorOf leaves texts that meet
// any of them to to_tsvector.
const (
	maxPos    = 1<<14 - 1
	maxNumPos = 255
	maxLexeme = 1<<11 - 1
)

// tsvectorOf returns the tsvector to_tsvector gives t, an indexText, under
// a configuration that keeps words as they are, in tsvector's input syntax,
// and true; or false when t is not only words of ASCII lowercase letters
// and digits separated by single spaces, has a word that starts with a
// digit and has letters, or meets a limit of tsvector. The empty text
// gives "" (no tsvector: the row is not indexed).
//
// The words are given in the text's order, each with its place ("b:1
// a:2 b:3"): the tsvector input sorts the lexemes and merges each one's
// places itself, as to_tsvector does, so the client only writes the
// places in.
func tsvectorOf(t string) (string, bool) {
	if t == "" {
		return "", true
	}
	// The tsvector input counts the bytes of every lexeme it reads,
	// repeats too, against maxTSVector, where to_tsvector counts each
	// lexeme once: a text whose words might add up to more is left to
	// to_tsvector (indexText has kept its tsvector within the limit).
	if len(t) > maxTSVector {
		return "", false
	}
	b := make([]byte, 0, len(t)+len(t)/2+8)
	pos, start := 0, 0
	letters := false // the word has a letter
	for i := 0; i <= len(t); i++ {
		if i < len(t) {
			c := t[i]
			if c >= 'a' && c <= 'z' {
				letters = true
				continue
			}
			if c >= '0' && c <= '9' {
				continue
			}
			if c != ' ' {
				return "", false
			}
		}
		w := t[start:i]
		// A word that starts with a digit and has letters goes through
		// the parser's numbers, which split some ("7e9uu" is "7e9" and
		// "uu").
		if w == "" || len(w) >= maxLexeme || letters && w[0] <= '9' {
			return "", false
		}
		if pos++; pos > maxPos {
			return "", false
		}
		if pos > 1 {
			b = append(b, ' ')
		}
		b = append(b, w...)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(pos), 10)
		letters, start = false, i+1
	}
	if pos > maxNumPos && repeatsPast(t, maxNumPos) {
		return "", false
	}
	return string(b), true
}

// repeatsPast says whether a word of t, words separated by single spaces,
// is there more than n times.
func repeatsPast(t string, n int) bool {
	seen := map[string]int{}
	for w := range strings.SplitSeq(t, " ") {
		if seen[w]++; seen[w] > n {
			return true
		}
	}
	return false
}

// lexemeProbe is a text with what tsvectorOf makes: words of letters,
// of digits, of both, repeated, and English stop words,
// which a configuration that drops them gives otherwise.
const lexemeProbe = "the 42 cat4 and a cat of the x2y 007 sat on it is 0 z"

// makesLexemes says whether the configuration config (as SQL, from
// searchConfig) gives every text what tsvectorOf makes of it: whether it is
// PostgreSQL's own "simple", every token type of it still mapped to
// nothing but PostgreSQL's own "simple" dictionary as it comes (no stop
// words, no options), and to_tsvector agrees on lexemeProbe. Any other
// configuration may stem, drop or map words, on words no probe holds. It
// is checked when the store opens: a configuration changed under a
// running store is seen at its next opening.
func makesLexemes(ctx context.Context, pool *pgxpool.Pool, config string) (bool, error) {
	want, _ := tsvectorOf(lexemeProbe)
	var same bool
	err := pool.QueryRow(ctx, "SELECT c.cfgname = 'simple' AND c.cfgnamespace = 'pg_catalog'::regnamespace "+
		"AND NOT EXISTS (SELECT FROM pg_ts_config_map m JOIN pg_ts_dict d ON d.oid = m.mapdict WHERE m.mapcfg = c.oid "+
		"AND NOT (d.dictname = 'simple' AND d.dictnamespace = 'pg_catalog'::regnamespace AND d.dictinitoption IS NULL)) "+
		"AND to_tsvector(c.oid::regconfig, $1) = $2::tsvector "+
		"FROM pg_ts_config c WHERE c.oid = "+config, lexemeProbe, want).Scan(&same)
	return same, err
}

// split turns an indexText into what a write or a backfill sends: the
// tsvector made here, or, if it cannot be, the text for to_tsvector (the
// other one is then "").
func (ix indexing) split(t string) (tsv, text string) {
	if ix.inClient {
		if v, ok := tsvectorOf(t); ok {
			return v, ""
		}
	}
	return "", t
}
