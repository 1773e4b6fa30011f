package search

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of a query: its length in bytes and its terms.
const (
	MaxQueryBytes = 1024
	MaxTerms      = 16
)

// ErrInvalidQuery is a query that cannot be run; its message says why.
var ErrInvalidQuery = errors.New("invalid search query")

// A Query is a parsed query: a message matches when it matches every term
// that is not excluded and none that is.
//
// The language, the same on every backend:
//
//	refund failed     both words, anywhere in the message
//	"refund failed"   the phrase: the words next to each other, in order
//	-refund           not the word (or, before quotes, the phrase)
//	refund*           a word that starts with "refund"
//
// Words are compared as tokens (see Tokens): case and Latin accents do not
// matter; a word that is several tokens ("e-mail", "東京") is a phrase. A
// query needs at least one term that is not excluded.
type Query struct {
	Terms []Term
}

// Term is one term of a query.
type Term struct {
	// Tokens, in order: one is a word, several a phrase.
	Tokens []string
	// Prefix: the last token matches any token it begins.
	Prefix bool
	// Exclude: a message that matches the term does not match the query.
	Exclude bool
}

// String writes q back in the query language, normalized.
func (q Query) String() string {
	var b strings.Builder
	for i, t := range q.Terms {
		if i > 0 {
			b.WriteByte(' ')
		}
		if t.Exclude {
			b.WriteByte('-')
		}
		if len(t.Tokens) > 1 {
			b.WriteByte('"')
		}
		b.WriteString(strings.Join(t.Tokens, " "))
		if len(t.Tokens) > 1 {
			b.WriteByte('"')
		}
		if t.Prefix {
			b.WriteByte('*')
		}
	}
	return b.String()
}

// Words returns the tokens of the terms that are not excluded, each once,
// and whether each is a prefix: what a snippet marks.
func (q Query) Words() (words []string, prefix []bool) {
	seen := map[string]bool{}
	for _, t := range q.Terms {
		if t.Exclude {
			continue
		}
		for i, tok := range t.Tokens {
			p := t.Prefix && i == len(t.Tokens)-1
			key := tok
			if p {
				key += "*"
			}
			if !seen[key] {
				seen[key] = true
				words, prefix = append(words, tok), append(prefix, p)
			}
		}
	}
	return words, prefix
}

// Parse reads a query (see Query).
func Parse(s string) (Query, error) {
	if len(s) > MaxQueryBytes {
		return Query{}, fmt.Errorf("%w: the query is %d bytes; the limit is %d", ErrInvalidQuery, len(s), MaxQueryBytes)
	}
	if !utf8.ValidString(s) {
		return Query{}, fmt.Errorf("%w: the query is not valid UTF-8", ErrInvalidQuery)
	}
	var q Query
	positive := false
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			i += w
			continue
		}
		var t Term
		if r == '-' {
			t.Exclude = true
			i++
		}
		var text string
		if i < len(s) && s[i] == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				end = len(s) - i - 1 // an unclosed quote ends with the query
			}
			text = s[i+1 : i+1+end]
			i += end + 2
		} else {
			end := strings.IndexFunc(s[i:], unicode.IsSpace)
			if end < 0 {
				end = len(s) - i
			}
			text = s[i : i+end]
			i += end
		}
		if i < len(s) && s[i] == '*' { // after a closing quote
			t.Prefix = true
			i++
		}
		if strings.HasSuffix(text, "*") {
			t.Prefix = true
			text = strings.TrimRight(text, "*")
		}
		var dropped int
		t.Tokens, dropped = tokens(nil, text)
		if dropped > 0 {
			return Query{}, fmt.Errorf("%w: the term %q has a word of %d bytes or more once folded; such words are not indexed, so the term can be neither searched for nor excluded", ErrInvalidQuery, truncate(text, 40), MaxTokenBytes)
		}
		if len(t.Tokens) == 0 {
			continue // punctuation only: nothing to find
		}
		if t.Prefix {
			last := t.Tokens[len(t.Tokens)-1]
			if r, _ := utf8.DecodeRuneInString(last); unbroken(r) {
				t.Prefix = false // a character of these scripts is a whole token
			} else if utf8.RuneCountInString(last) < 2 {
				return Query{}, fmt.Errorf("%w: a prefix needs at least 2 characters before its *, got %q", ErrInvalidQuery, last)
			}
		}
		if len(q.Terms) == MaxTerms {
			return Query{}, fmt.Errorf("%w: more than %d terms", ErrInvalidQuery, MaxTerms)
		}
		q.Terms = append(q.Terms, t)
		positive = positive || !t.Exclude
	}
	if !positive {
		return Query{}, fmt.Errorf("%w: the query has no word to find (letters or digits, not only excluded terms)", ErrInvalidQuery)
	}
	return q, nil
}
