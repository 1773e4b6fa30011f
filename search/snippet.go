package search

import (
	"html"
	"strings"
)

// Snippet sizes: tokens shown before the first match, and in all.
const (
	snippetBefore = 6
	snippetTokens = 30
)

// Snippet is the part of d around the first word of q it holds (within its
// first 64 KiB), as HTML:
// the text escaped, each token that matches a word of q (or begins with a
// prefix of q) in <mark>…</mark>, and "…" where text was left out. It
// looks in the text, then the reasoning; a message that matches neither
// (an excluded-only match cannot happen) gives the start of its text.
func Snippet(d Doc, q Query) string {
	words, prefix := q.Words()
	matches := func(tok string) bool {
		for i, w := range words {
			if tok == w || prefix[i] && strings.HasPrefix(tok, w) {
				return true
			}
		}
		return false
	}
	for _, text := range []string{d.Text, d.Reasoning} {
		text = head(text, snippetScan)
		sp := spans(text)
		for i, s := range sp {
			if matches(s.tok) {
				return render(text, sp, max(0, i-snippetBefore), matches)
			}
		}
	}
	text := head(d.Text, snippetScan)
	return render(text, spans(text), 0, matches)
}

// snippetScan bounds the text a snippet looks through, so that a page of
// hits on messages of megabytes costs what their first part does; a match
// further on shows the start of the message.
const snippetScan = 64 << 10

// head is s cut to at most n bytes, at a rune boundary.
func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// render writes the tokens of text from sp[from] on, snippetTokens of them
// at most, with what lies between them.
func render(text string, sp []span, from int, matches func(string) bool) string {
	if len(sp) == 0 {
		return html.EscapeString(truncate(text, 200))
	}
	to := min(len(sp), from+snippetTokens)
	var b strings.Builder
	start := 0
	if from > 0 {
		b.WriteString("…")
		start = sp[from].start
	}
	for _, s := range sp[from:to] {
		b.WriteString(html.EscapeString(text[start:s.start]))
		if matches(s.tok) {
			b.WriteString("<mark>")
			b.WriteString(html.EscapeString(text[s.start:s.end]))
			b.WriteString("</mark>")
		} else {
			b.WriteString(html.EscapeString(text[s.start:s.end]))
		}
		start = s.end
	}
	if to < len(sp) {
		b.WriteString("…")
	} else {
		b.WriteString(html.EscapeString(text[start:]))
	}
	return b.String()
}

// truncate cuts s to at most n bytes, at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return head(s, n) + "…"
}
