package search

import "strings"

// Match reports whether a text whose tokens are toks matches q: the
// definition every backend's index must agree with (the conformance suite
// checks each against it).
func Match(toks []string, q Query) bool {
	for _, t := range q.Terms {
		if t.occurs(toks) == t.Exclude {
			return false
		}
	}
	return true
}

// MatchDoc reports whether d matches q: its text, or, with reasoning, its
// reasoning.
func MatchDoc(d Doc, q Query, reasoning bool) bool {
	return Match(Tokens(nil, d.Text), q) || reasoning && Match(Tokens(nil, d.Reasoning), q)
}

// occurs reports whether t's tokens occur in toks, next to each other.
func (t Term) occurs(toks []string) bool {
	n := len(t.Tokens)
	for i := 0; i+n <= len(toks); i++ {
		ok := true
		for j, w := range t.Tokens {
			tok := toks[i+j]
			if tok != w && !(t.Prefix && j == n-1 && strings.HasPrefix(tok, w)) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
