package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/num"
)

// searchHit is one hit as the API answers it.
type searchHit struct {
	HistoryID string    `json:"chat_history_id"`
	MessageID string    `json:"chat_message_id"`
	Role      chat.Role `json:"role"`
	CreatedAt string    `json:"created_at"`
	Snippet   string    `json:"snippet"`
	Score     float64   `json:"score"`
}

// search answers GET /v1/search: the messages of the tenant's histories
// that match q, most relevant first.
func (s *Server) search(w http.ResponseWriter, r *http.Request, t Tenant) error {
	q, filter, err := listQuery(r, "q", "limit", "cursor", "prefix", "role", "since", "until", "reasoning")
	if err != nil {
		return err
	}
	if _, ok := q["q"]; !ok {
		return badRequest("invalid_query", `the query is missing: GET /v1/search?q=WORDS`)
	}
	o, err := s.searchOptions(q.Get, filter)
	if err != nil {
		return err
	}
	var page chatstore.SearchPage
	err = s.timed(r.Context(), "search", func(ctx context.Context) (err error) {
		page, err = s.storeOf(t).Search(ctx, o)
		return err
	})
	if err != nil {
		return err
	}
	out := struct {
		Hits       []searchHit `json:"hits"`
		NextCursor *string     `json:"next_cursor"`
	}{Hits: make([]searchHit, len(page.Hits))}
	for i, h := range page.Hits {
		out.Hits[i] = searchHit{h.HistoryID, h.MessageID, h.Role, h.CreatedAt.Format(chatstore.TimeFormat), h.Snippet, h.Score}
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, append(b, '\n'))
	return nil
}

// searchOptions reads a search's parameters, by name from get, and its
// metadata filter: the HTTP API's and the MCP tool's.
func (s *Server) searchOptions(get func(string) string, filter map[string]string) (chatstore.SearchOptions, error) {
	o := chatstore.SearchOptions{Query: get("q"), Prefix: get("prefix"), Metadata: filter, Cursor: get("cursor")}
	if err := s.checkPrefix(o.Prefix); err != nil {
		return o, err
	}
	if v := get("limit"); v != "" {
		n, big, ok := num.Parse(v)
		if !ok || big || n < 1 || n > chatstore.MaxSearchLimit {
			return o, badRequest("invalid_query", fmt.Sprintf("limit must be a number from 1 to %d, got %q", chatstore.MaxSearchLimit, truncate(v, 50)))
		}
		o.Limit = n
	}
	if v := get("role"); v != "" {
		for _, r := range strings.Split(v, ",") {
			o.Roles = append(o.Roles, chat.Role(r))
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &o.Since}, {"until", &o.Until}} {
		if v := get(p.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return o, badRequest("invalid_query", fmt.Sprintf("%s must be a time in RFC 3339 (2026-12-01T09:30:00Z), got %q", p.name, truncate(v, 50)))
			}
			*p.dst = at
		}
	}
	switch v := get("reasoning"); v {
	case "", "false":
	case "true":
		o.Reasoning = true
	default:
		return o, badRequest("invalid_query", fmt.Sprintf(`reasoning must be "true" or "false", got %q`, truncate(v, 50)))
	}
	return o, nil
}
