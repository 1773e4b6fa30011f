package tokens

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// The encodings Tiktoken knows.
const (
	O200kBase  = "o200k_base"
	Cl100kBase = "cl100k_base"
)

// spec says where an encoding's vocabulary is and how text is split into
// the pieces that byte-pair encoding works on.
type spec struct {
	file string // in the loader's assets
	// sum is the SHA-256 of the file that tiktoken itself checks
	// (expected_hash in tiktoken_ext/openai_public.py), so these are the
	// very vocabularies Python's tiktoken loads.
	sum     string
	pattern string
}

var specs = map[string]spec{
	O200kBase: {
		file: "o200k_base.tiktoken",
		sum:  "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
		// tiktoken's pattern as it is: it uses nothing that regexp2
		// spells differently.
		pattern: `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?` +
			`|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?` +
			`|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	},
	Cl100kBase: {
		file: "cl100k_base.tiktoken",
		sum:  "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
		// tiktoken's current pattern,
		//   '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s
		// with each possessive X?+, X++, X*+, X{1,3}+ written as the
		// atomic group (?>X?) and so on, which regexp2 has and which means
		// the same, and $ as \z: without multi-line mode Rust's $ matches
		// only at the very end, where .NET's also matches before a final
		// "\n". The Go ports use the older pattern, which splits trailing
		// whitespace such as "\n  \n  " differently.
		pattern: `'(?i:[sdmt]|ll|ve|re)|(?>[^\r\n\p{L}\p{N}]?)(?>\p{L}+)|(?>\p{N}{1,3})` +
			`| ?(?>[^\s\p{L}\p{N}]+)(?>[\r\n]*)|(?>\s+)\z|\s*[\r\n]|\s+(?!\S)|\s`,
	},
}

// encoding is a loaded tiktoken encoding.
type encoding struct {
	name  string
	split *regexp2.Regexp
	ranks map[string]uint32
}

var (
	loadMu sync.Mutex
	loaded = map[string]*encoding{}
)

// load returns the named encoding, reading its vocabulary the first time
// (about 100 ms, and 8 MB kept, for o200k_base), shared by every counter.
func load(name string) (*encoding, error) {
	sp, ok := specs[name]
	if !ok {
		return nil, fmt.Errorf("tokens: %w: unknown encoding %q (known: %q, %q)", ErrInvalidOptions, name, O200kBase, Cl100kBase)
	}
	loadMu.Lock()
	defer loadMu.Unlock()
	if e := loaded[name]; e != nil {
		return e, nil
	}
	data, err := assetsFile(sp.file)
	if err != nil {
		return nil, fmt.Errorf("tokens: read the %s vocabulary: %w", name, err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != sp.sum {
		return nil, fmt.Errorf("tokens: the %s vocabulary is not the one tiktoken uses (sha256 %x, want %s)", name, sum, sp.sum)
	}
	ranks, err := parseRanks(data)
	if err != nil {
		return nil, fmt.Errorf("tokens: read the %s vocabulary: %w", name, err)
	}
	split, err := regexp2.Compile(sp.pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("tokens: compile the %s pattern: %w", name, err)
	}
	// No timeout, whatever regexp2.DefaultMatchTimeout another package set:
	// the patterns match in linear time, and a count cut short is wrong.
	split.MatchTimeout = time.Duration(math.MaxInt64)
	e := &encoding{name: name, split: split, ranks: ranks}
	loaded[name] = e
	return e, nil
}

func assetsFile(name string) ([]byte, error) { return assets.Assets.ReadFile(name) }

// parseRanks reads a .tiktoken file: one "base64-token rank" a line. The
// tokens are decoded into one buffer that becomes one string, and the map
// keys are slices of it, so 200,000 tokens cost two allocations rather than
// 200,000.
func parseRanks(data []byte) (map[string]uint32, error) {
	type entry struct {
		off, n int
		rank   uint32
	}
	entries := make([]entry, 0, bytes.Count(data, []byte{'\n'})+1)
	buf := make([]byte, 0, len(data)*3/4)
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) == 0 {
			continue
		}
		tok, num, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			return nil, fmt.Errorf("line %q is not \"token rank\"", line)
		}
		off := len(buf)
		var err error
		if buf, err = base64.StdEncoding.AppendDecode(buf, tok); err != nil {
			return nil, fmt.Errorf("token %q: %w", tok, err)
		}
		rank, err := strconv.ParseUint(string(num), 10, 32)
		if err != nil || rank == math.MaxUint32 {
			return nil, fmt.Errorf("rank %q: not a rank", num)
		}
		entries = append(entries, entry{off, len(buf) - off, uint32(rank)})
	}
	all := string(buf)
	ranks := make(map[string]uint32, len(entries))
	for _, e := range entries {
		ranks[all[e.off:e.off+e.n]] = e.rank
	}
	return ranks, nil
}

// count returns len(encode(s)) as tiktoken's encode_ordinary gives it:
// s is split with the encoding's pattern, a piece that is a token counts
// one, and any other piece counts the tokens byte-pair merging makes of it.
func (e *encoding) count(s string) int {
	n := 0
	e.pieces(s, func(p string) {
		if _, ok := e.ranks[p]; ok {
			n++
			return
		}
		n += e.merge(p, nil)
	})
	return n
}

// encode returns the token ids of s; the tests compare them with
// tiktoken's.
func (e *encoding) encode(s string) []uint32 {
	var ids []uint32
	e.pieces(s, func(p string) {
		if r, ok := e.ranks[p]; ok {
			ids = append(ids, r)
			return
		}
		e.merge(p, func(tok string) { ids = append(ids, e.ranks[tok]) })
	})
	return ids
}

// pieces calls f with each match of the split pattern in s, in order.
// Characters no alternative matches would be skipped, as tiktoken's
// find_iter skips them; these patterns leave none.
func (e *encoding) pieces(s string, f func(string)) {
	if !utf8.ValidString(s) {
		// A Python str cannot hold such bytes; where tiktoken meets a lone
		// surrogate, the nearest thing, it encodes U+FFFD.
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	m, err := e.split.FindStringMatch(s)
	runes, at := 0, 0 // the match positions are in runes; at is runes' byte offset
	for m != nil {
		for runes < m.Index {
			_, size := utf8.DecodeRuneInString(s[at:])
			at += size
			runes++
		}
		start := at
		for runes < m.Index+m.Length {
			_, size := utf8.DecodeRuneInString(s[at:])
			at += size
			runes++
		}
		f(s[start:at])
		m, err = e.split.FindNextMatch(m)
	}
	if err != nil && at < len(s) {
		// regexp2 fails only on a timeout, and there is none, or on a fault
		// of its own. The rest then counts as one piece, which costs no more
		// than any other and counts at most a token a byte.
		f(s[at:])
	}
}

// noRank marks a pair that is not a token.
const noRank = math.MaxUint32

// heapFrom is the piece length, in bytes, from which merge switches from
// scanning for the best pair to a heap: tiktoken's own threshold, so that
// the short pieces of ordinary text take the path tiktoken takes.
const heapFrom = 100

// merge byte-pair encodes a piece that is not itself a token: starting from
// single bytes, it merges the adjacent pair that forms the token of lowest
// rank, the leftmost of equals, until no adjacent pair forms a token. It
// returns the number of tokens and, if tok is not nil, calls it with each.
func (e *encoding) merge(p string, tok func(string)) int {
	if len(p) < heapFrom {
		return e.mergeScan(p, tok)
	}
	return e.mergeHeap(p, tok)
}

func (e *encoding) rank(s string) uint32 {
	if r, ok := e.ranks[s]; ok {
		return r
	}
	return noRank
}

// mergeScan finds each merge by scanning every pair: O(n²) for a piece of n
// bytes, and the fastest for the few bytes of nearly every piece. It works
// on a piece of any length (the tests compare it with mergeHeap), but
// allocates nothing only below heapFrom.
func (e *encoding) mergeScan(p string, tok func(string)) int {
	type part struct {
		start int
		rank  uint32 // of the pair of this part and the next
	}
	var buf [heapFrom + 1]part
	parts := buf[:0]
	for i := 0; i+1 < len(p); i++ {
		parts = append(parts, part{i, e.rank(p[i : i+2])})
	}
	parts = append(parts, part{len(p) - 1, noRank}, part{len(p), noRank})
	// pairRank is the rank of part i and the part after next, once the
	// part after i has been merged into it.
	pairRank := func(i int) uint32 {
		if i+3 < len(parts) {
			return e.rank(p[parts[i].start:parts[i+3].start])
		}
		return noRank
	}
	for {
		best, at := uint32(noRank), -1
		for i, q := range parts[:len(parts)-1] {
			if q.rank < best {
				best, at = q.rank, i
			}
		}
		if at < 0 {
			break
		}
		if at > 0 {
			parts[at-1].rank = pairRank(at - 1)
		}
		parts[at].rank = pairRank(at)
		parts = append(parts[:at+1], parts[at+2:]...)
	}
	if tok != nil {
		for i := 0; i+1 < len(parts); i++ {
			tok(p[parts[i].start:parts[i+1].start])
		}
	}
	return len(parts) - 1
}

// mergeHeap makes the same merges as mergeScan in O(n log n), keeping the
// candidate pairs in a heap ordered by rank and then position, as tiktoken
// does for long pieces. A long piece is a long run of letters (Thai or
// Chinese prose has no spaces), of symbols or of whitespace; this is what
// keeps one of 100 KB from costing seconds.
func (e *encoding) mergeHeap(p string, tok func(string)) int {
	n := len(p)
	// Token i is the one starting at byte i, while one does; end[i] is
	// where it ends, prev[i] where the token before it starts, and
	// rank[i] the rank of the pair it forms with the next token (noRank
	// for none, and once token i has been merged into its left
	// neighbour).
	end := make([]int32, n)
	prev := make([]int32, n)
	rank := make([]uint32, n)
	h := make(pairHeap, 0, n)
	for i := range n {
		end[i], prev[i], rank[i] = int32(i+1), int32(i-1), noRank
		if i+1 < n {
			if r := e.rank(p[i : i+2]); r != noRank {
				rank[i] = r
				h = append(h, pair{r, int32(i)})
			}
		}
	}
	h.init()
	// update sets the rank of the pair starting at token i.
	update := func(i int32) {
		rank[i] = noRank
		if j := end[i]; int(j) < n {
			if r := e.rank(p[i:end[j]]); r != noRank {
				rank[i] = r
				h.push(pair{r, i})
			}
		}
	}
	for len(h) > 0 {
		top := h.pop()
		i := top.start
		if rank[i] != top.rank {
			// Stale: the pair changed since. A rank names one token, so
			// an unchanged rank means an unchanged pair.
			continue
		}
		j := end[i]
		end[i] = end[j]
		rank[j] = noRank
		if int(end[i]) < n {
			prev[end[i]] = i
		}
		update(i)
		if i > 0 {
			update(prev[i])
		}
	}
	count := 0
	for i := int32(0); int(i) < n; i = end[i] {
		if tok != nil {
			tok(p[i:end[i]])
		}
		count++
	}
	return count
}

type pair struct {
	rank  uint32
	start int32
}

// pairHeap is a min-heap of pairs by rank, then start: the leftmost of the
// pairs of lowest rank comes first.
type pairHeap []pair

func (h pairHeap) less(a, b int) bool {
	if h[a].rank != h[b].rank {
		return h[a].rank < h[b].rank
	}
	return h[a].start < h[b].start
}

func (h pairHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *pairHeap) push(x pair) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		up := (i - 1) / 2
		if !s.less(i, up) {
			break
		}
		s[i], s[up] = s[up], s[i]
		i = up
	}
}

func (h *pairHeap) pop() pair {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	h.down(0)
	return top
}

func (h pairHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && h.less(r, c) {
			c = r
		}
		if !h.less(c, i) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
