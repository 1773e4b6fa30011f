package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/component"
	"github.com/chatstore/chatstore/internal/jsonx"
)

// Token budgets and compactions (issue 17): the window of a last_k read or
// a context, and the compaction records of a history. The server's store
// counts and applies the rules (window.go); the client sends the options
// and decodes what the server wrote with chatstore's encoders
// (Window.AppendJSON, Compaction.AppendJSON).

// checkBudget refuses a negative budget as the store does, with the
// store's error, before any request.
func checkBudget(maxTokens int64) error {
	if maxTokens < 0 {
		return fmt.Errorf("client: %w: max_tokens must be 1 or greater, got %d", chatstore.ErrInvalidRange, maxTokens)
	}
	return nil
}

// orUnknown is n, or -1 (not known) for null.
func orUnknown(n *int64) int64 {
	if n == nil {
		return -1
	}
	return *n
}

// windowJSON is a window as the API describes it (Window.AppendJSON).
type windowJSON struct {
	Tokens     int64  `json:"tokens"`
	MaxTokens  *int64 `json:"max_tokens"`
	Rounds     int    `json:"rounds"`
	More       bool   `json:"more"`
	Exceeded   bool   `json:"exceeded"`
	Pruned     int    `json:"pruned"`
	Compaction *struct {
		Through    string     `json:"through"`
		CreatedAt  *time.Time `json:"created_at"`
		Tokens     int64      `json:"tokens"`
		Summarized bool       `json:"summarized"`
	} `json:"compaction"`
	Omitted       *int64 `json:"omitted"`
	OmittedTokens *int64 `json:"omitted_tokens"`
}

// decodeWindow decodes a window the server sent with msgs. The window's
// compaction gets its summary from msgs when they hold it: the message
// with the compaction's id and the mark of a compaction.
func decodeWindow(raw []byte, msgs []chat.Message) (chatstore.Window, error) {
	var w windowJSON
	if err := json.Unmarshal(raw, &w); err != nil {
		return chatstore.Window{}, err
	}
	out := chatstore.Window{
		Tokens:        w.Tokens,
		Rounds:        w.Rounds,
		More:          w.More,
		Exceeded:      w.Exceeded,
		Pruned:        w.Pruned,
		Omitted:       orUnknown(w.Omitted),
		OmittedTokens: orUnknown(w.OmittedTokens),
	}
	if w.MaxTokens != nil {
		out.MaxTokens = *w.MaxTokens
	}
	if c := w.Compaction; c != nil {
		out.Compaction = &chatstore.Compaction{Through: c.Through, Tokens: c.Tokens, InEffect: true}
		if c.CreatedAt != nil {
			out.Compaction.CreatedAt = c.CreatedAt.UTC()
		}
		out.Summarized = c.Summarized
		for _, m := range msgs {
			_, mark := m.Meta[chatstore.CompactionMetaKey]
			if c.Summarized && mark && m.Meta[chatstore.MessageIDKey] == c.Through {
				out.Compaction.Summary = m
				break
			}
		}
	}
	return out, nil
}

// compactionJSON is a compaction record as the API describes it
// (Compaction.AppendJSON).
type compactionJSON struct {
	Through   string       `json:"through"`
	Summary   chat.Message `json:"summary"`
	Tokens    int64        `json:"tokens"`
	CreatedAt *time.Time   `json:"created_at"`
	InEffect  bool         `json:"in_effect"`
}

func (c compactionJSON) compaction() chatstore.Compaction {
	out := chatstore.Compaction{Through: c.Through, Summary: c.Summary, Tokens: c.Tokens, InEffect: c.InEffect}
	if c.CreatedAt != nil {
		out.CreatedAt = c.CreatedAt.UTC()
	}
	return out
}

// Context returns what to send to a model next (POST …/context), as
// component.Retriever.Run returns it over the server's store with the
// store's default last_k: the system messages of opts.CurrentMessages, the
// last rounds of the history, then the other current messages, within
// opts.MaxTokens when it is > 0 (less opts.ToolTokens), with
// opts.PruneToolResults and opts.Uncompacted. *opts.Window, when not nil,
// is set to the window the server describes. Nothing is written.
func (c *Client) Context(ctx context.Context, historyID string, opts component.RunOptions) ([]chat.Message, error) {
	if opts.MaxTokens < 0 || opts.ToolTokens < 0 {
		return nil, fmt.Errorf("client: %w: max_tokens must be 1 or greater and the tools' allowance 0 or greater, got %d and %d", chatstore.ErrInvalidRange, opts.MaxTokens, opts.ToolTokens)
	}
	b := append(make([]byte, 0, 256*(1+len(opts.CurrentMessages))), `{"current_messages":[`...)
	for i, m := range opts.CurrentMessages {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = m.AppendJSON(b); err != nil {
			return nil, chatstore.MessageError(i, err)
		}
	}
	b = append(b, ']')
	switch {
	case opts.LastK == nil:
		// the server's store's default
	case *opts.LastK == chatstore.All:
		b = append(b, `,"last_k":"all"`...)
	default:
		b = strconv.AppendInt(append(b, `,"last_k":`...), int64(*opts.LastK), 10)
	}
	if opts.MaxTokens > 0 {
		b = strconv.AppendInt(append(b, `,"max_tokens":`...), opts.MaxTokens, 10)
	}
	if opts.ToolTokens > 0 {
		b = strconv.AppendInt(append(b, `,"tool_tokens":`...), opts.ToolTokens, 10)
	}
	if opts.PruneToolResults {
		b = append(b, `,"prune_tool_results":true`...)
	}
	if opts.Uncompacted {
		b = append(b, `,"compacted":false`...)
	}
	b = append(b, '}')
	path := historyPath(historyID, "/context")
	var raw json.RawMessage
	if err := c.do(ctx, "POST", path, b, &raw); err != nil {
		return nil, err
	}
	return messageList("POST", path, raw, opts.Window)
}

// Compact records that summary stands, in windowed reads, for the messages
// of a history up to and including through (POST …/compactions; see
// chatstore.Store.Compact). chatstore.ErrNotFound if the history does not
// hold through, chatstore.ErrNotSupported if the server's store keeps no
// compactions. Whether it is in effect is not known from the answer
// (InEffect is false): Compactions says.
func (c *Client) Compact(ctx context.Context, historyID, through string, summary chat.Message) (chatstore.Compaction, error) {
	if err := chatstore.CheckMessageID(through); err != nil {
		return chatstore.Compaction{}, fmt.Errorf("client: %w", err)
	}
	b, _ := jsonx.AppendString([]byte(`{"through":`), through, jsonx.Compact) // checked above
	b, err := summary.AppendJSON(append(b, `,"summary":`...))
	if err != nil {
		return chatstore.Compaction{}, fmt.Errorf("client: %w: summary: %w", chatstore.ErrInvalidMessage, err)
	}
	b = append(b, '}')
	var out compactionJSON
	if err := c.do(ctx, "POST", historyPath(historyID, "/compactions"), b, &out); err != nil {
		return chatstore.Compaction{}, err
	}
	return out.compaction(), nil
}

// Compactions returns a history's compaction records, newest first, the
// one in effect marked (GET …/compactions; see
// chatstore.Store.Compactions).
func (c *Client) Compactions(ctx context.Context, historyID string) ([]chatstore.Compaction, error) {
	var out struct {
		Compactions []compactionJSON `json:"compactions"`
	}
	if err := c.do(ctx, "GET", historyPath(historyID, "/compactions"), nil, &out); err != nil {
		return nil, err
	}
	cs := make([]chatstore.Compaction, len(out.Compactions))
	for i, cj := range out.Compactions {
		cs[i] = cj.compaction()
	}
	return cs, nil
}
