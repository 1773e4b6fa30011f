package driver

import (
	"context"

	"github.com/chatstore/chatstore/search"
)

// Searcher is implemented by drivers that keep a full-text index of their
// messages: the tokens of each Record's Doc (search.IndexText, or
// search.Tokens), added in the same atomic step as the write that stores
// the message, and gone with the message in the same step as whatever
// removes it (DeleteMessage, Truncate, Delete, DeleteAll, PrefixDeleter,
// expiry), and copied by Fork. A message matches a query as search.MatchDoc
// defines it. A driver may instead record, in the write's atomic step, that
// the message is yet to be indexed, and index it later from what it stored
// (sqlitestore does, as an FTS5 index costs a small write more than the
// rest of it), provided Search indexes what is recorded before it runs: a
// search sees every write acknowledged before it began, either way.
type Searcher interface {
	// Indexing reports whether the driver indexes writes (and so wants
	// Record.Doc); false for a driver configured without search, whose
	// Search then fails with ErrNotSupported.
	Indexing() bool

	// Search returns up to q.Limit hits in rank order: Score descending,
	// then HistoryID and Pos ascending; after q.After when it is set.
	Search(ctx context.Context, q SearchQuery) ([]Hit, error)
}

// SearchQuery is what Search looks for.
type SearchQuery struct {
	Query search.Query
	// Reasoning: a message also matches when its reasoning does.
	Reasoning bool
	// Prefix: only histories whose id starts with it.
	Prefix string
	// Metadata: only histories whose metadata holds every pair.
	Metadata map[string]string
	// Roles: only messages of one of these roles; nil for all.
	Roles []string
	// Since and Until: only messages with Since ≤ CreatedAt < Until (Unix
	// ms); 0 leaves that end open.
	Since, Until int64
	Limit        int
	// After: only hits that rank after this one.
	After *Hit
}

// Hit is a message that matches a query, with its history and its score
// (higher is more relevant; what it measures is the backend's).
type Hit struct {
	HistoryID string
	Message
	Score float64
}

// Before reports whether h ranks before o.
func (h *Hit) Before(o *Hit) bool {
	switch {
	case h.Score != o.Score:
		return h.Score > o.Score
	case h.HistoryID != o.HistoryID:
		return h.HistoryID < o.HistoryID
	}
	return h.Pos < o.Pos
}
