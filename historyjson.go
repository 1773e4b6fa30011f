package chatstore

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/chatstore/chatstore/internal/jsonx"
)

// AppendJSON appends h as chatstore writes a history in JSON, in the HTTP
// API, over MCP and on the command line: {"chat_history_id", "count",
// "tokens" (null when not known), "created_at", "updated_at",
// "expires_at", "ttl_seconds", "metadata"}, the times in TimeFormat or
// null when not known (a history that does not exist, a driver that keeps
// none) or, for expires_at, when the history never expires; ttl_seconds is
// its own sliding time to live (Expiry.TTL) or null; the metadata's keys
// sorted.
func (h HistoryInfo) AppendJSON(b []byte) []byte {
	b = append(b, `{"chat_history_id":`...)
	b, _ = jsonx.AppendString(b, h.ID, jsonx.Compact)
	b = append(b, ',')
	return append(h.AppendFieldsJSON(b), '}')
}

// AppendFieldsJSON appends the members of AppendJSON but the id, without
// braces: "count":N,"tokens":N,"created_at":…,"updated_at":…,
// "expires_at":…,"ttl_seconds":…,"metadata":{…}, for a document that names
// the history elsewhere.
func (h HistoryInfo) AppendFieldsJSON(b []byte) []byte {
	b = append(b, `"count":`...)
	b = strconv.AppendInt(b, int64(h.Count), 10)
	b = appendCount(append(b, `,"tokens":`...), h.Tokens)
	b = appendTime(append(b, `,"created_at":`...), h.CreatedAt)
	b = appendTime(append(b, `,"updated_at":`...), h.UpdatedAt)
	b = appendTime(append(b, `,"expires_at":`...), h.ExpiresAt)
	b = appendTTLSeconds(append(b, `,"ttl_seconds":`...), h.Expiry.TTL)
	b = append(b, `,"metadata":{`...)
	for i, k := range slices.Sorted(maps.Keys(h.Metadata)) {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = jsonx.AppendString(b, k, jsonx.Compact)
		b = append(b, ':')
		b, _ = jsonx.AppendString(b, h.Metadata[k], jsonx.Compact)
	}
	return append(b, '}')
}

// appendTTLSeconds appends a time to live in seconds, null for none: a
// whole number, with a fraction only for a TTL set to the millisecond
// through the Go API (the HTTP API takes whole seconds).
func appendTTLSeconds(b []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(b, "null"...)
	}
	ms := d.Milliseconds()
	if ms%1000 == 0 {
		return strconv.AppendInt(b, ms/1000, 10)
	}
	return strconv.AppendFloat(b, float64(ms)/1000, 'f', -1, 64)
}

// appendTime appends t as a JSON string in TimeFormat, or null if zero.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	return append(t.UTC().AppendFormat(append(b, '"'), TimeFormat), '"')
}

// AppendJSON appends the page as chatstore lists histories in JSON (the
// HTTP API, MCP): {"histories": [each as HistoryInfo.AppendJSON],
// "next_cursor": the cursor, or null on the last page}.
func (p Page) AppendJSON(b []byte) []byte {
	return appendPage(b, `{"histories":[`, p.Histories, p.NextCursor)
}

// appendPage appends a page: open, the items as their AppendJSON writes
// them, and the cursor (appendNextCursor).
func appendPage[T interface{ AppendJSON([]byte) []byte }](b []byte, open string, items []T, cursor string) []byte {
	b = append(b, open...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = it.AppendJSON(b)
	}
	return appendNextCursor(b, cursor)
}

// AppendJSON appends h as chatstore writes a search hit in JSON (the HTTP
// API, MCP, the command line): {"chat_history_id", "chat_message_id",
// "role", "created_at", "snippet", "score"}.
func (h SearchHit) AppendJSON(b []byte) []byte {
	b = append(b, `{"chat_history_id":`...)
	b, _ = jsonx.AppendString(b, h.HistoryID, jsonx.Compact)
	b = append(b, `,"chat_message_id":`...)
	b, _ = jsonx.AppendString(b, h.MessageID, jsonx.Compact)
	b = append(b, `,"role":`...)
	b, _ = jsonx.AppendString(b, string(h.Role), jsonx.Compact)
	b = appendTime(append(b, `,"created_at":`...), h.CreatedAt)
	b = append(b, `,"snippet":`...)
	b, _ = jsonx.AppendString(b, h.Snippet, jsonx.Compact)
	b = append(b, `,"score":`...)
	b = strconv.AppendFloat(b, h.Score, 'g', -1, 64)
	return append(b, '}')
}

// AppendJSON appends the page as chatstore answers a search in JSON:
// {"hits": [each as SearchHit.AppendJSON], "next_cursor": the cursor, or
// null on the last page}.
func (p SearchPage) AppendJSON(b []byte) []byte {
	return appendPage(b, `{"hits":[`, p.Hits, p.NextCursor)
}

// appendNextCursor ends a page: `],"next_cursor":` and the cursor, or null
// on the last page, and the page's closing brace.
func appendNextCursor(b []byte, cursor string) []byte {
	b = append(b, `],"next_cursor":`...)
	if cursor == "" {
		b = append(b, "null"...)
	} else {
		b, _ = jsonx.AppendString(b, cursor, jsonx.Compact)
	}
	return append(b, '}')
}

// AppendJSON appends w as chatstore writes what a windowed read returned
// (the HTTP API, MCP, the command line): {"tokens", "max_tokens" (null
// for none), "rounds", "more",
// "exceeded", "pruned", "compaction", "omitted", "omitted_tokens"}, where
// compaction is null or {"through", "created_at", "tokens", "summarized"},
// and the omitted counts are null when not known.
func (w Window) AppendJSON(b []byte) []byte {
	b = append(b, `{"tokens":`...)
	b = strconv.AppendInt(b, w.Tokens, 10)
	b = append(b, `,"max_tokens":`...)
	if w.MaxTokens > 0 {
		b = strconv.AppendInt(b, w.MaxTokens, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"rounds":`...)
	b = strconv.AppendInt(b, int64(w.Rounds), 10)
	b = append(b, `,"more":`...)
	b = strconv.AppendBool(b, w.More)
	b = append(b, `,"exceeded":`...)
	b = strconv.AppendBool(b, w.Exceeded)
	b = append(b, `,"pruned":`...)
	b = strconv.AppendInt(b, int64(w.Pruned), 10)
	b = append(b, `,"compaction":`...)
	if c := w.Compaction; c == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"through":`...)
		b, _ = jsonx.AppendString(b, c.Through, jsonx.Compact)
		b = appendTime(append(b, `,"created_at":`...), c.CreatedAt)
		b = append(b, `,"tokens":`...)
		b = strconv.AppendInt(b, c.Tokens, 10)
		b = append(b, `,"summarized":`...)
		b = strconv.AppendBool(b, w.Summarized)
		b = append(b, '}')
	}
	b = appendCount(append(b, `,"omitted":`...), w.Omitted)
	b = appendCount(append(b, `,"omitted_tokens":`...), w.OmittedTokens)
	return append(b, '}')
}

// appendCount appends n, or null if it is negative (not known).
func appendCount(b []byte, n int64) []byte {
	if n < 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, n, 10)
}

// AppendJSON appends c as chatstore writes a compaction record:
// {"through", "summary" (the message in Haystack's format, its
// chat_message_id through), "tokens", "created_at", "in_effect"}.
func (c Compaction) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"through":`...)
	b, _ = jsonx.AppendString(b, c.Through, jsonx.Compact)
	b = append(b, `,"summary":`...)
	b, err := c.Summary.AppendJSON(b)
	if err != nil {
		return b, err
	}
	b = append(b, `,"tokens":`...)
	b = strconv.AppendInt(b, c.Tokens, 10)
	b = appendTime(append(b, `,"created_at":`...), c.CreatedAt)
	b = append(b, `,"in_effect":`...)
	b = strconv.AppendBool(b, c.InEffect)
	return append(b, '}'), nil
}
