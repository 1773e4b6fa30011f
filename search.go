package chatstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/search"
)

// DefaultSearchLimit and MaxSearchLimit bound one page of Search.
const (
	DefaultSearchLimit = 20
	MaxSearchLimit     = 100
)

// SearchOptions is what Search looks for: the messages that match Query (in
// package search's language), within the filters.
type SearchOptions struct {
	Query string
	// Reasoning: a message's reasoning is searched too.
	Reasoning bool
	// Prefix: only histories whose id starts with it.
	Prefix string
	// Metadata: only histories whose metadata holds every pair.
	Metadata map[string]string
	// Roles: only messages of one of these roles; none for all.
	Roles []chat.Role
	// Since and Until: only messages written at or after Since and
	// before Until; a zero time leaves that end open.
	Since, Until time.Time
	// Limit is the hits of a page: 1 to MaxSearchLimit, 0 for
	// DefaultSearchLimit.
	Limit int
	// Cursor is a SearchPage's NextCursor, for the page after it.
	Cursor string
}

// ParseSearchParams reads search options from parameters given by name as
// strings, as the HTTP API's query and the MCP tool's arguments give them:
// q, limit, cursor, prefix, role (comma-separated roles), since and until
// (RFC 3339), reasoning ("true" or "false"); "" is a parameter not given.
// What the strings cannot be is ErrInvalidQuery; the rest Search checks.
func ParseSearchParams(get func(name string) string) (SearchOptions, error) {
	o := SearchOptions{Query: get("q"), Prefix: get("prefix"), Cursor: get("cursor")}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxSearchLimit {
			return o, fmt.Errorf("chatstore: %w: limit must be a number from 1 to %d, got %.50q", ErrInvalidQuery, MaxSearchLimit, v)
		}
		o.Limit = n
	}
	if v := get("role"); v != "" {
		for _, r := range strings.Split(v, ",") {
			o.Roles = append(o.Roles, chat.Role(strings.TrimSpace(r)))
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &o.Since}, {"until", &o.Until}} {
		if v := get(p.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return o, fmt.Errorf("chatstore: %w: %s must be a time in RFC 3339 (2026-12-01T09:30:00Z), got %.50q", ErrInvalidQuery, p.name, v)
			}
			*p.dst = at
		}
	}
	switch v := get("reasoning"); v {
	case "", "false":
	case "true":
		o.Reasoning = true
	default:
		return o, fmt.Errorf("chatstore: %w: reasoning must be true or false, got %.50q", ErrInvalidQuery, v)
	}
	return o, nil
}

// SearchHit is a message that matches.
type SearchHit struct {
	HistoryID string
	MessageID string
	Role      chat.Role
	CreatedAt time.Time
	// Snippet is the text around the match, as HTML: escaped, with the
	// matching words in <mark>…</mark> (search.Snippet).
	Snippet string
	// Score ranks the hits, higher first; what it measures is the
	// backend's (bm25 on SQLite, ts_rank_cd on PostgreSQL).
	Score float64
}

// SearchPage is one page of hits, most relevant first.
type SearchPage struct {
	Hits       []SearchHit
	NextCursor string // "" after the last page
}

// Search finds messages by their words, most relevant first. It needs a
// driver that indexes its messages (driver.Searcher); others fail with
// ErrNotSupported. Hits are ranked when each page is read, so a write
// between pages can move a message across pages.
func (s *Store) Search(ctx context.Context, o SearchOptions) (SearchPage, error) {
	if err := s.begin(ctx, "search"); err != nil {
		return SearchPage{}, err
	}
	defer s.mu.RUnlock()
	if !s.indexing() {
		return SearchPage{}, fmt.Errorf("chatstore: search: %w: this store keeps no full-text index (the memory, SQLite and PostgreSQL backends search, unless opened with search=false; Redis does not)", ErrNotSupported)
	}
	q, err := s.searchQuery(o)
	if err != nil || q.Until < 0 {
		return SearchPage{}, err
	}
	hits, err := s.drv.(driver.Searcher).Search(ctx, q)
	if err != nil {
		return SearchPage{}, err
	}
	var page SearchPage
	for i, h := range hits {
		if i == q.Limit-1 {
			page.NextCursor = encodeSearchCursor(&hits[i-1])
			break
		}
		m, err := decodeStored(h.HistoryID, h.Message)
		if err != nil {
			return SearchPage{}, err
		}
		page.Hits = append(page.Hits, SearchHit{
			HistoryID: h.HistoryID[len(s.prefix):],
			MessageID: h.ID,
			Role:      m.Role,
			CreatedAt: time.UnixMilli(h.CreatedAt).UTC(),
			Snippet:   search.Snippet(search.Document(m), q.Query),
			Score:     h.Score,
		})
	}
	return page, nil
}

// searchQuery checks o and makes the driver's query of it, for one more
// hit than the page, to know whether there are more.
func (s *Store) searchQuery(o SearchOptions) (driver.SearchQuery, error) {
	q := driver.SearchQuery{Reasoning: o.Reasoning, Prefix: s.prefix + o.Prefix, Metadata: o.Metadata, Limit: o.Limit + 1}
	var err error
	if q.Query, err = search.Parse(o.Query); err != nil {
		return q, fmt.Errorf("chatstore: %w", err)
	}
	switch {
	case o.Limit == 0:
		q.Limit = DefaultSearchLimit + 1
	case o.Limit < 0 || o.Limit > MaxSearchLimit:
		return q, fmt.Errorf("chatstore: %w: limit must be 1 to %d, got %d", ErrInvalidQuery, MaxSearchLimit, o.Limit)
	}
	for _, r := range o.Roles {
		switch r {
		case chat.RoleUser, chat.RoleAssistant, chat.RoleSystem, chat.RoleTool:
			if !slices.Contains(q.Roles, string(r)) {
				q.Roles = append(q.Roles, string(r))
			}
		default:
			return q, fmt.Errorf("chatstore: %w: unknown role %.40q (user, assistant, system or tool)", ErrInvalidQuery, r)
		}
	}
	if err := checkMetadataFilter(o.Metadata); err != nil {
		return q, err
	}
	// Times are stored in whole milliseconds: a bound between two is
	// the next one up, for since (at or after) as for until (before).
	ceilMS := func(t time.Time) int64 {
		ms := t.UnixMilli()
		if t.After(time.UnixMilli(ms)) {
			ms++
		}
		return ms
	}
	if !o.Since.IsZero() {
		q.Since = max(0, ceilMS(o.Since)) // 0: no bound, as all times are after
	}
	if !o.Until.IsZero() {
		if q.Until = ceilMS(o.Until); q.Until <= 0 {
			q.Until = -1 // before 1970: nothing, which Search answers at once
		}
	}
	if q.Since != 0 && q.Until != 0 && q.Since >= q.Until {
		return q, fmt.Errorf("chatstore: %w: since (%s) must be before until (%s)", ErrInvalidQuery, o.Since.Format(TimeFormat), o.Until.Format(TimeFormat))
	}
	if o.Cursor != "" {
		after, err := decodeSearchCursor(o.Cursor)
		if err != nil || !strings.HasPrefix(after.HistoryID, s.prefix) {
			return q, fmt.Errorf("chatstore: %w: %.80q was not returned by Search", ErrInvalidCursor, o.Cursor)
		}
		q.After = after
	}
	return q, nil
}

// Cursors of searches: "s1." and the score, position and history of the
// last hit of the page. Like List's, they hold the id as the driver has it.
const searchCursorPrefix = "s1."

func encodeSearchCursor(h *driver.Hit) string {
	b := binary.BigEndian.AppendUint64(nil, math.Float64bits(h.Score))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Pos))
	return searchCursorPrefix + base64.RawURLEncoding.EncodeToString(append(b, h.HistoryID...))
}

func decodeSearchCursor(c string) (*driver.Hit, error) {
	rest, ok := strings.CutPrefix(c, searchCursorPrefix)
	if !ok {
		return nil, ErrInvalidCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) <= 16 || checkID(string(b[16:]), false) != nil {
		return nil, ErrInvalidCursor
	}
	score := math.Float64frombits(binary.BigEndian.Uint64(b))
	pos := int64(binary.BigEndian.Uint64(b[8:]))
	if math.IsNaN(score) || pos < 0 {
		return nil, ErrInvalidCursor
	}
	return &driver.Hit{HistoryID: string(b[16:]), Message: driver.Message{Pos: pos}, Score: score}, nil
}
