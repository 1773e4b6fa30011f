// Package search is chatstore's full-text search, the part every backend
// shares: what a message gives to the index (Document), how text becomes
// words (Tokens), the query language (Parse) and the snippet of a hit
// (Snippet). The backends match and rank with their own engines (SQLite's
// FTS5, PostgreSQL's tsvector, memstore's inverted index) over the words
// this package makes, so a query means the same on each.
package search

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A token is a run of letters, digits and marks, folded: compatibility
// forms to their plain letters (NFKD: "ﬁ" is "fi", a full-width "Ａ" is
// "a"), lower case, and, after a Latin, Greek or Cyrillic letter, accents
// dropped ("Café" is "cafe"). Scripts written without spaces between
// words (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) give one
// token per character, so a word of them is found as a phrase of its
// characters: "東京" matches "東京都" and not "京東".

// MaxTokenBytes is the length from which a token is dropped: a word of
// 2,047 bytes or more (a base64 blob, a minified file, a run of one
// letter) is not indexed and not matched. It is the length from which
// PostgreSQL's to_tsvector drops a word (MAXSTRLEN), so every backend
// indexes the same words; the words on either side of one become
// neighbours, as there, so a phrase of them matches. A query is shorter
// than that (MaxQueryBytes), but folding can lengthen a word (ﷲ, 3 bytes,
// folds to 8), and Parse refuses a query with such a word, which can be
// neither searched for nor excluded. Indexing one cost SQLite's FTS5
// memory and time in proportion to it (docs/RELIABILITY.md).
const MaxTokenBytes = 2047

// span is a token and where it was in the text it came from.
type span struct {
	tok        string
	start, end int // byte offsets in the text
}

// Tokens returns the tokens of s, appended to dst.
func Tokens(dst []string, s string) []string {
	dst, _ = tokens(dst, s)
	return dst
}

// tokens is Tokens, and how many words of s it dropped (MaxTokenBytes).
func tokens(dst []string, s string) ([]string, int) {
	dropped := walk(s, func(tok []byte, _, _ int) { dst = append(dst, string(tok)) })
	return dst, dropped
}

// IndexText is s's tokens joined by single spaces: what a backend's own
// tokenizer, splitting at spaces, indexes as they are.
func IndexText(s string) string {
	b := make([]byte, 0, len(s))
	walk(s, func(tok []byte, _, _ int) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, tok...)
	})
	return string(b)
}

// spans returns the tokens of s with their places in s.
func spans(s string) []span {
	var out []span
	walk(s, func(tok []byte, start, end int) { out = append(out, span{string(tok), start, end}) })
	return out
}

// walk calls emit for each token of s, with the token's bytes (valid only
// during the call) and its byte offsets in s, and returns how many it
// dropped for their length (MaxTokenBytes).
func walk(s string, emit func(tok []byte, start, end int)) (dropped int) {
	var (
		tok      []byte
		start    = -1
		end      int
		base     rune // the last letter, for accents
		one      [utf8.UTFMax]byte
		decomp   []byte
		composed []byte
		wide     bool // tok holds a rune outside ASCII
		flushTok = func() {
			if start >= 0 && len(tok) > 0 {
				t := tok
				if wide {
					// Decomposing was for the accents; tokens are
					// composed again (Hangul syllables, Indic
					// letters with their signs).
					composed = norm.NFC.Append(composed[:0], tok...)
					t = composed
				}
				if len(t) < MaxTokenBytes {
					emit(t, start, end)
				} else {
					dropped++
				}
			}
			tok, start, wide = tok[:0], -1, false
		}
	)
	for i, r := range s {
		size := utf8.RuneLen(r)
		if r < utf8.RuneSelf {
			// ASCII: the common case, without normalizing.
			switch {
			case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
			case 'A' <= r && r <= 'Z':
				r += 'a' - 'A'
			default:
				flushTok()
				continue
			}
			if start < 0 {
				start = i
			}
			tok = append(tok, byte(r))
			end, base = i+1, r
			continue
		}
		if size < 0 {
			size = 1
		}
		n := utf8.EncodeRune(one[:], r)
		decomp = norm.NFKD.Append(decomp[:0], one[:n]...)
		for j := 0; j < len(decomp); {
			d, w := utf8.DecodeRune(decomp[j:])
			j += w
			switch {
			case unicode.Is(unicode.Mn, d):
				if start >= 0 && folds(base) {
					continue // an accent on a Latin, Greek or Cyrillic letter
				}
				if start < 0 {
					continue // a mark with nothing to mark
				}
				tok, wide = utf8.AppendRune(tok, d), true
				end = i + size
			case unbroken(d):
				flushTok()
				emit(utf8.AppendRune(tok[:0], unicode.ToLower(d)), i, i+size)
				tok = tok[:0]
			case unicode.IsLetter(d) || unicode.IsDigit(d) || unicode.IsMark(d):
				if start < 0 {
					start = i
				}
				d = unicode.ToLower(d)
				if d == 'ς' {
					d = 'σ' // Greek's final sigma: the same letter as σ, which Σ lowers to
				}
				tok, wide = utf8.AppendRune(tok, d), wide || d >= utf8.RuneSelf
				end, base = i+size, d
			default:
				flushTok()
			}
		}
	}
	flushTok()
	return dropped
}

// folds reports whether accents after r are dropped: r is a Latin, Greek or
// Cyrillic letter.
func folds(r rune) bool {
	return r < utf8.RuneSelf || unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic)
}

// unbroken reports whether r belongs to a script written without spaces
// between words, whose characters are tokens each.
func unbroken(r rune) bool {
	return r >= 0x0E00 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}
