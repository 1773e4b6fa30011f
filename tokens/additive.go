package tokens

import (
	"math"
	"sync"
	"unicode/utf8"

	"github.com/chatstore/chatstore/chat"
)

// Additive is a counter whose count of a run of messages follows from
// measures of the messages taken one at a time, so that a store can measure
// each message once, when it is written, and count any run of them later
// without rendering or tokenizing anything. Both counters of this package
// are Additive.
type Additive interface {
	Counter
	// Measure returns the measure of m's rendered text (Render of m
	// alone) and m's flat charge for images and files.
	Measure(m chat.Message) (text, flat int64)
	// Total returns the count of n messages (no tools) whose Measures
	// add up to text and flat; 0 for n ≤ 0.
	Total(text, flat, n int64) int64
}

var (
	_ Additive = (*Approximate)(nil)
	_ Additive = (*Tiktoken)(nil)
)

// renderBufs are the buffers Measure renders into: a store measures every
// message it writes.
var renderBufs = sync.Pool{New: func() any { return new([]byte) }}

// rendered calls f with m rendered.
func rendered[T any](m chat.Message, f func([]byte) T) T {
	bp := renderBufs.Get().(*[]byte)
	*bp = appendMessage((*bp)[:0], m)
	out := f(*bp)
	if cap(*bp) <= 64<<10 {
		renderBufs.Put(bp)
	}
	return out
}

// Measure returns the code points of m's rendered text and its flat charge.
func (a *Approximate) Measure(m chat.Message) (text, flat int64) {
	n := rendered(m, utf8.RuneCount)
	return int64(n), flat1(m, a.perImage, a.perFile)
}

// Total is Count's number for the run: the code points of the messages'
// texts and of the n-1 "\n" that join them, divided by the characters per
// token, plus the flat charges. It is exactly what Count returns.
func (a *Approximate) Total(text, flat, n int64) int64 {
	if n <= 0 {
		return 0
	}
	return int64(min(float64(text+n-1)/a.charsPerToken, math.MaxInt32)) + flat
}

// Measure returns the tokens of m's rendered text and its flat charge.
func (t *Tiktoken) Measure(m chat.Message) (text, flat int64) {
	n := rendered(m, func(b []byte) int { return t.enc.count(string(b)) })
	return int64(n), flat1(m, t.perImage, t.perFile)
}

// Total counts each message's tokens as measured alone and one token for
// each "\n" joining two of them. Count tokenizes the joined text, whose
// pieces can span a join: a message's trailing spaces, newline or
// punctuation merge with the "\n" after it into one piece ("  \n", ".\n"),
// usually one token where Total counts two. So Total is at most a token or
// two per join above Count's number and, in practice, not below it: a run
// that Total says fits a budget fits it by Haystack's count too.
func (t *Tiktoken) Total(text, flat, n int64) int64 {
	if n <= 0 {
		return 0
	}
	return text + n - 1 + flat
}

// flat1 is the flat charge of one message.
func flat1(m chat.Message, perImage, perFile int) int64 {
	return int64(flat([]chat.Message{m}, perImage, perFile))
}
