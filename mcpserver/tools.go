package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/apicode"
	"github.com/chatstore/chatstore/internal/jsonx"
	"github.com/chatstore/chatstore/internal/plural"
)

// The tools' names.
const (
	ListHistories  = "list_histories"
	ReadHistory    = "read_history"
	GetMessage     = "get_message"
	AppendMessages = "append_messages"
	SearchMessages = "search_messages"
)

// tool is one tool: its definition, the arguments it takes, and what it
// does, which returns its answer as the JSON of its structured content.
type tool struct {
	tool *mcp.Tool
	args []string
	run  func(ctx context.Context, c call, a args) ([]byte, error)
}

func (s *server) tools() []tool {
	ts := []tool{s.listHistoriesTool(), s.readHistoryTool(), s.getMessageTool(), s.searchMessagesTool()}
	if !s.o.ReadOnly {
		ts = append(ts, s.appendMessagesTool())
	}
	return ts
}

// handle runs a tool. Its answer is both the structured content and, as
// JSON text, the text content, for clients that read only text. Every
// error is a tool error (IsError) with the HTTP API's message and code, so
// that the model can read what was wrong and try again; only a call the
// SDK cannot route (an unknown tool, arguments that are not JSON) is a
// protocol error.
func (s *server) handle(t tool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c, err := s.begin(ctx)
		var (
			a   args
			out []byte
		)
		if err == nil {
			a, err = splitArgs(req.Params.Arguments, t.args...)
		}
		if err == nil {
			out, err = t.run(ctx, c, a)
		}
		if err == nil {
			err = c.hold(len(out))
		}
		if err != nil {
			return s.toolError(ctx, t.tool.Name, err), nil
		}
		return &mcp.CallToolResult{
			Content:           []mcp.Content{&mcp.TextContent{Text: string(out)}},
			StructuredContent: json.RawMessage(out),
		}, nil
	}
}

// toolError is err as a tool error: the message the HTTP API would answer
// it with, and its code in parentheses after it, "… (invalid_last_k)"
// (apicode.Classify). What that does not recognise is a bug, said only as
// "internal" to the client and logged here.
func (s *server) toolError(ctx context.Context, name string, err error) *mcp.CallToolResult {
	status, code, msg := apicode.Classify(err)
	if status == http.StatusInternalServerError {
		s.log.LogAttrs(ctx, slog.LevelError, "MCP tool failed", slog.String("tool", name), slog.Any("error", err))
	}
	return &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: strings.ToValidUTF8(msg, "\uFFFD") + " (" + code + ")"}},
	}
}

// metadataFilterProp is the metadata argument of the tools that filter
// histories by it.
var metadataFilterProp = prop{"metadata", &jsonschema.Schema{Type: "object", AdditionalProperties: &jsonschema.Schema{Type: "string"},
	Description: "Only the histories whose metadata holds every one of these key-value pairs."}}

// checkPrefix checks a prefix of history ids (list_histories,
// search_messages): "" or the start of an id the scope takes.
func (c call) checkPrefix(p string) error {
	if p == "" {
		return nil
	}
	if err := c.checkID(p); err != nil {
		_, _, msg := apicode.Classify(err)
		return invalid("invalid_request", "prefix must be the start of a valid history id: "+msg)
	}
	return nil
}

// historyID reads the chat_history_id argument, by the scope's rules.
func (c call) historyID(a args) (string, error) {
	id, err := a.str("chat_history_id", true)
	if err != nil {
		return "", err
	}
	return id, c.checkID(id)
}

// tooLarge says what to do about a read over the response limit.
func (s *server) tooLarge(err error) error {
	if errors.Is(err, chatstore.ErrTooLarge) {
		return invalid("response_too_large", fmt.Sprintf(
			"the messages selected are over the response limit of %s (one round can be that long); read the history in pages with offset 0 and limit %d, then the next offsets, and a smaller limit if a page is still too large",
			plural.Bytes(int64(s.o.MaxResponseBytes)), chatstore.DefaultRangeLimit))
	}
	return err
}

// appendMessage appends m in Haystack's or OpenAI's format; one OpenAI's
// cannot carry is not_convertible, as in the HTTP API.
func appendMessage(b []byte, m chat.Message, openai bool, path string) ([]byte, error) {
	if !openai {
		return m.AppendJSON(b)
	}
	out, err := m.AppendOpenAI(b, chat.OpenAIOptions{})
	var ce *chat.Error
	if errors.As(err, &ce) {
		ce.Within(path)
		return nil, invalid(apicode.NotConvertible, strings.TrimPrefix(ce.Error(), "chat: "))
	}
	return out, err
}

// answerHead starts an answer about one history:
// {"chat_history_id":…,"format":…,
func answerHead(id string, openai bool) []byte {
	b := append(make([]byte, 0, 64+len(id)), `{"chat_history_id":`...)
	b, _ = jsonx.AppendString(b, id, jsonx.Compact)
	if openai {
		return append(b, `,"format":"openai",`...)
	}
	return append(b, `,"format":"haystack",`...)
}

func (s *server) listHistoriesTool() tool {
	return tool{
		tool: &mcp.Tool{
			Name:  ListHistories,
			Title: "List chat histories",
			Description: "List the chat histories, each with its number of messages, when it was created, last changed and expires, and its metadata, " +
				"in byte order of their ids or, with order updated_at, the most recently changed first; metadata keeps only the histories holding every pair given " +
				"(for example {\"user_id\": \"u-42\"}). One page at a time: to get the next page, call again with the same order and metadata and cursor set " +
				"to the next_cursor of this one; next_cursor is null on the last page.",
			Annotations: readOnly("List chat histories"),
			InputSchema: object(nil,
				prop{"limit", &jsonschema.Schema{Type: "integer", Minimum: float(1), Maximum: float(chatstore.MaxListLimit), Default: raw(chatstore.DefaultListLimit),
					Description: fmt.Sprintf("Histories per page, 1 to %d (default %d).", chatstore.MaxListLimit, chatstore.DefaultListLimit)}},
				prop{"cursor", &jsonschema.Schema{Type: "string", Description: "The next_cursor of the previous page; leave it out for the first page."}},
				prop{"prefix", &jsonschema.Schema{Type: "string", Description: "Only histories whose ids start with this."}},
				prop{"order", &jsonschema.Schema{Type: "string", Enum: []any{"id", "updated_at"}, Default: raw("id"),
					Description: `"id" (the default): byte order of the ids; "updated_at": the most recently changed first.`}},
				metadataFilterProp,
			),
			OutputSchema: object([]string{"histories", "next_cursor"},
				prop{"histories", &jsonschema.Schema{Type: "array", Items: object([]string{"chat_history_id", "count", "tokens", "created_at", "updated_at", "expires_at", "ttl_seconds", "metadata"},
					prop{"chat_history_id", &jsonschema.Schema{Type: "string"}},
					prop{"count", &jsonschema.Schema{Type: "integer", Minimum: float(0), Description: "Its number of messages."}},
					prop{"tokens", &jsonschema.Schema{Types: []string{"integer", "null"}, Minimum: float(0), Description: "The tokens of its messages, by the store's counter; null if the store cannot count them."}},
					prop{"created_at", &jsonschema.Schema{Types: []string{"string", "null"}, Description: "When it was created (RFC 3339, UTC); null if the store keeps no times."}},
					prop{"updated_at", &jsonschema.Schema{Types: []string{"string", "null"}, Description: "When it last changed (RFC 3339, UTC)."}},
					prop{"expires_at", &jsonschema.Schema{Types: []string{"string", "null"}, Description: "When it expires and is deleted (RFC 3339, UTC); null if never."}},
					prop{"ttl_seconds", &jsonschema.Schema{Types: []string{"number", "null"}, Minimum: float(0), Description: "Its own sliding time to live, in seconds: it expires that long after its last change; null if it has none of its own (a default may still apply: see expires_at)."}},
					prop{"metadata", &jsonschema.Schema{Type: "object", AdditionalProperties: &jsonschema.Schema{Type: "string"}}},
				)}},
				prop{"next_cursor", &jsonschema.Schema{Types: []string{"string", "null"}, Description: "The cursor of the next page; null on the last."}},
			),
		},
		args: []string{"limit", "cursor", "prefix", "order", "metadata"},
		run:  listHistories,
	}
}

func listHistories(ctx context.Context, c call, a args) ([]byte, error) {
	var opts chatstore.ListOptions
	limit, hasLimit, err := a.integer("limit", "invalid_limit")
	if err != nil {
		return nil, err
	}
	if hasLimit {
		if limit < 1 || limit > chatstore.MaxListLimit {
			return nil, invalid("invalid_limit", fmt.Sprintf("limit must be a number from 1 to %d, got %d", chatstore.MaxListLimit, limit))
		}
		opts.Limit = limit
	}
	if opts.Cursor, err = a.str("cursor", false); err != nil {
		return nil, err
	}
	if opts.Prefix, err = a.str("prefix", false); err != nil {
		return nil, err
	}
	if err := c.checkPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	order, err := a.str("order", false)
	if err != nil {
		return nil, err
	}
	switch order {
	case "", "id":
	case "updated_at":
		opts.Order = chatstore.ByUpdated
	default:
		return nil, invalid("invalid_request", fmt.Sprintf(`order must be "id" or "updated_at", got %.40q`, order))
	}
	if opts.Metadata, err = a.strings("metadata"); err != nil {
		return nil, err
	}
	var page chatstore.Page
	err = c.do(ctx, "list", func(ctx context.Context) (err error) {
		page, err = c.Store.List(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return page.AppendJSON(nil), nil
}

func (s *server) searchMessagesTool() tool {
	str := func(desc string) *jsonschema.Schema { return &jsonschema.Schema{Type: "string", Description: desc} }
	return tool{
		tool: &mcp.Tool{
			Name:  SearchMessages,
			Title: "Search messages",
			Description: "Find messages by their words across the chat histories, most relevant first: to recall what a user said before, or to find the conversation " +
				"where something happened. The query: words (all must match), \"exact phrases\", -excluded, prefix* (case and accents do not matter). " +
				"Each hit names its history and message (read it, or its conversation around it, with read_history or get_message) and has a snippet " +
				"with the matching words in <mark>…</mark>. One page at a time: call again with cursor set to next_cursor for more; it is null on the last page.",
			Annotations: readOnly("Search messages"),
			InputSchema: object([]string{"q"},
				prop{"q", str("The query, for example: refund \"card declined\" -paypal")},
				prop{"limit", &jsonschema.Schema{Type: "integer", Minimum: float(1), Maximum: float(chatstore.MaxSearchLimit), Default: raw(chatstore.DefaultSearchLimit),
					Description: fmt.Sprintf("Hits per page, 1 to %d (default %d).", chatstore.MaxSearchLimit, chatstore.DefaultSearchLimit)}},
				prop{"cursor", str("The next_cursor of the previous page; leave it out for the first page.")},
				prop{"prefix", str("Only histories whose ids start with this.")},
				prop{"role", str("Only messages of these roles, comma-separated: user, assistant, system, tool.")},
				prop{"since", str("Only messages written at or after this time (RFC 3339).")},
				prop{"until", str("Only messages written before this time (RFC 3339).")},
				prop{"reasoning", &jsonschema.Schema{Type: "boolean", Default: raw(false), Description: "Also find messages whose reasoning matches."}},
				metadataFilterProp,
			),
			OutputSchema: object([]string{"hits", "next_cursor"},
				prop{"hits", &jsonschema.Schema{Type: "array", Items: object([]string{"chat_history_id", "chat_message_id", "role", "created_at", "snippet", "score"},
					prop{"chat_history_id", &jsonschema.Schema{Type: "string"}},
					prop{"chat_message_id", &jsonschema.Schema{Type: "string"}},
					prop{"role", &jsonschema.Schema{Type: "string"}},
					prop{"created_at", &jsonschema.Schema{Type: "string", Description: "When it was written (RFC 3339, UTC)."}},
					prop{"snippet", str("The text around the match, as HTML, the matching words in <mark>…</mark>.")},
					prop{"score", &jsonschema.Schema{Type: "number", Description: "Relevance; higher first."}},
				)}},
				prop{"next_cursor", &jsonschema.Schema{Types: []string{"string", "null"}, Description: "The cursor of the next page; null on the last."}},
			),
		},
		args: []string{"q", "limit", "cursor", "prefix", "role", "since", "until", "reasoning", "metadata"},
		run:  searchMessages,
	}
}

func searchMessages(ctx context.Context, c call, a args) ([]byte, error) {
	params := map[string]string{}
	for _, name := range []string{"q", "cursor", "prefix", "role", "since", "until"} {
		v, err := a.str(name, name == "q")
		if err != nil {
			return nil, err
		}
		params[name] = v
	}
	limit, hasLimit, err := a.integer("limit", "invalid_query")
	if err != nil {
		return nil, err
	}
	if hasLimit {
		params["limit"] = strconv.Itoa(limit)
	}
	if reasoning, ok, err := a.boolean("reasoning"); err != nil {
		return nil, err
	} else if ok {
		params["reasoning"] = strconv.FormatBool(reasoning)
	}
	if err := c.checkPrefix(params["prefix"]); err != nil {
		return nil, err
	}
	o, err := chatstore.ParseSearchParams(func(name string) string { return params[name] })
	if err != nil {
		return nil, err
	}
	if o.Metadata, err = a.strings("metadata"); err != nil {
		return nil, err
	}
	var page chatstore.SearchPage
	err = c.do(ctx, "search", func(ctx context.Context) (err error) {
		page, err = c.Store.Search(ctx, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	return page.AppendJSON(nil), nil
}

func (s *server) readHistoryTool() tool {
	// The views of a store share its options, so this is every scope's.
	lastK := "the store's default, " + plural.Count(s.root.DefaultLastK(), "round", "rounds")
	switch s.root.DefaultLastK() {
	case chatstore.All:
		lastK = `the store's default, "all"`
	case 0:
		lastK = "the store's default, 0: no messages"
	}
	return tool{
		tool: &mcp.Tool{
			Name:  ReadHistory,
			Title: "Read a chat history",
			Description: "Read the messages of a chat history, oldest first, each with its id in meta.chat_message_id. " +
				"By default, the last rounds of the conversation (last_k): a round ends with an assistant reply that calls no tool, so a tool call always comes with its results. " +
				"With max_tokens, only the newest whole rounds that fit that many tokens; where a summary was recorded for the older messages (a compaction), it stands in their place. " +
				"Such a read also answers a window: the tokens and rounds returned, and whether older ones were left out (more) or not even the newest round fit (exceeded). " +
				"Or, with offset and limit instead, up to limit messages from position offset (0 is the first message written), to read a long history page by page, as stored. " +
				"A history that does not exist has no messages.",
			Annotations: readOnly("Read a chat history"),
			InputSchema: object([]string{"chat_history_id"},
				historyIDProp,
				prop{"last_k", &jsonschema.Schema{
					AnyOf:       []*jsonschema.Schema{{Type: "integer", Minimum: float(0)}, {Type: "string", Enum: []any{"all"}}},
					Description: "How many of the last rounds to read: a whole number ≥ 0, or \"all\" for every message. Default: " + lastK + ". Not with offset and limit.",
				}},
				prop{"offset", &jsonschema.Schema{Type: "integer", Minimum: float(0), Default: raw(0),
					Description: "Instead of last_k: the position of the first message to read, 0 for the first message written."}},
				prop{"limit", &jsonschema.Schema{Type: "integer", Minimum: float(1), Maximum: float(chatstore.MaxRangeLimit), Default: raw(chatstore.DefaultRangeLimit),
					Description: fmt.Sprintf("Instead of last_k: how many messages to read from offset, 1 to %d (default %d). Fewer come back at the end of the history.", chatstore.MaxRangeLimit, chatstore.DefaultRangeLimit)}},
				prop{"max_tokens", &jsonschema.Schema{Type: "integer", Minimum: float(1),
					Description: "With last_k (not offset and limit): a budget of tokens, by the store's counter; only the newest whole rounds that fit it are read."}},
				prop{"compacted", &jsonschema.Schema{Type: "boolean", Default: raw(true),
					Description: "With last_k: true (the default) reads a compaction's summary in place of the messages it stands for; false reads those messages."}},
				prop{"prune_tool_results", &jsonschema.Schema{Type: "boolean", Default: raw(false),
					Description: "With last_k: replace large tool results older than the newest tool-calling step with a short placeholder that names the tool."}},
				formatProp,
			),
			OutputSchema: historyAnswer("messages", &jsonschema.Schema{Type: "array", Items: &jsonschema.Schema{Type: "object"},
				Description: "The messages, oldest first, in the format asked for."},
				prop{"window", windowSchema()}),
		},
		args: []string{"chat_history_id", "last_k", "offset", "limit", "max_tokens", "compacted", "prune_tool_results", "format"},
		run:  readHistory,
	}
}

func readHistory(ctx context.Context, c call, a args) ([]byte, error) {
	id, err := c.historyID(a)
	if err != nil {
		return nil, err
	}
	openai, err := a.format()
	if err != nil {
		return nil, err
	}
	// Either the last rounds or a range of positions, as the HTTP API
	// reads them.
	sel := chatstore.ReadOptions{LastK: c.Store.DefaultLastK()}
	offset, hasOffset, err := a.integer("offset", "invalid_range")
	if err != nil {
		return nil, err
	}
	limit, hasLimit, err := a.integer("limit", "invalid_range")
	if err != nil {
		return nil, err
	}
	lastK, hasLastK := a.given("last_k")
	var window []string // the arguments of a windowed read given
	for _, name := range []string{"max_tokens", "compacted", "prune_tool_results"} {
		if _, ok := a.given(name); ok {
			window = append(window, name)
		}
	}
	switch {
	case (hasOffset || hasLimit) && hasLastK:
		return nil, invalid("invalid_request", "give either last_k (the last rounds) or offset and limit (a range of positions), not both")
	case (hasOffset || hasLimit) && len(window) > 0:
		return nil, invalid("invalid_request", strings.Join(window, ", ")+" apply only to a read of the last rounds (last_k), not to offset and limit (a range of positions, read as stored)")
	case hasOffset || hasLimit:
		sel.Offset, sel.Limit = offset, chatstore.DefaultRangeLimit
		if hasLimit {
			if limit < 1 { // to the store, a limit of 0 is no range at all
				return nil, invalid("invalid_range", fmt.Sprintf("limit must be 1 to %d, got %d", chatstore.MaxRangeLimit, limit))
			}
			sel.Limit = limit
		}
	case hasLastK:
		if sel.LastK, _, err = chatstore.LastKJSON(lastK.Raw); err != nil {
			return nil, err
		}
	}
	if sel.Limit == 0 {
		if err := windowArgs(a, &sel); err != nil {
			return nil, err
		}
	}
	var (
		msgs []byte
		n    int
	)
	if !openai {
		// Haystack's format is what the store keeps: no need to decode.
		err = c.read(ctx, func(ctx context.Context, maxBytes int) (err error) {
			sel.MaxBytes = maxBytes
			msgs, n, err = c.Store.AppendJSON(ctx, nil, id, sel)
			return err
		})
		if err != nil {
			return nil, c.tooLarge(err)
		}
	} else {
		var ms []chat.Message
		err = c.read(ctx, func(ctx context.Context, maxBytes int) (err error) {
			sel.MaxBytes = maxBytes
			ms, err = c.Store.Read(ctx, id, sel)
			return err
		})
		if err != nil {
			return nil, c.tooLarge(err)
		}
		msgs = append(msgs, '[')
		for i, m := range ms {
			if i > 0 {
				msgs = append(msgs, ',')
			}
			if msgs, err = appendMessage(msgs, m, true, "messages["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
			// OpenAI's format can be larger than the stored one.
			if len(msgs) > c.o.MaxResponseBytes {
				return nil, c.tooLarge(chatstore.ErrTooLarge)
			}
		}
		msgs, n = append(msgs, ']'), len(ms)
	}
	c.tally(0, n)
	b := append(answerHead(id, openai), `"messages":`...)
	b = append(b, msgs...)
	if sel.Window != nil {
		b = sel.Window.AppendJSON(append(b, `,"window":`...))
	}
	return append(b, '}'), nil
}

// windowArgs reads the arguments of a windowed read (a read of the last
// rounds) into sel, and asks for its window: what they do is the store's
// (chatstore.ReadOptions).
func windowArgs(a args, sel *chatstore.ReadOptions) error {
	maxTokens, ok, err := a.integer("max_tokens", "invalid_request")
	switch {
	case err != nil:
		return err
	case ok && maxTokens < 1:
		return invalid("invalid_request", fmt.Sprintf("max_tokens must be a whole number ≥ 1, got %d", maxTokens))
	}
	sel.MaxTokens = int64(maxTokens)
	compacted, ok, err := a.boolean("compacted")
	if err != nil {
		return err
	}
	sel.Uncompacted = ok && !compacted
	if sel.PruneToolResults, _, err = a.boolean("prune_tool_results"); err != nil {
		return err
	}
	sel.Window = new(chatstore.Window)
	return nil
}

func (s *server) getMessageTool() tool {
	return tool{
		tool: &mcp.Tool{
			Name:  GetMessage,
			Title: "Get one message",
			Description: "Fetch one message of a chat history by its id, the meta.chat_message_id that read_history gives each message. " +
				"A store that cannot address single messages answers not_supported; read_history still reads them.",
			Annotations: readOnly("Get one message"),
			InputSchema: object([]string{"chat_history_id", "message_id"},
				historyIDProp,
				prop{"message_id", &jsonschema.Schema{Type: "string", MinLength: ptr(1), Description: "The message's meta.chat_message_id."}},
				formatProp,
			),
			OutputSchema: historyAnswer("message", &jsonschema.Schema{Type: "object", Description: "The message, in the format asked for."}),
		},
		args: []string{"chat_history_id", "message_id", "format"},
		run:  getMessage,
	}
}

func getMessage(ctx context.Context, c call, a args) ([]byte, error) {
	id, err := c.historyID(a)
	if err != nil {
		return nil, err
	}
	messageID, err := a.str("message_id", true)
	if err != nil {
		return nil, err
	}
	// Checked here too: to a read, no MessageID is a read of the last
	// rounds.
	if err := chatstore.CheckMessageID(messageID); err != nil {
		return nil, err
	}
	openai, err := a.format()
	if err != nil {
		return nil, err
	}
	// A read of the one message (Store.Message's), under the read budget.
	var msgs []chat.Message
	err = c.read(ctx, func(ctx context.Context, maxBytes int) (err error) {
		msgs, err = c.Store.Read(ctx, id, chatstore.ReadOptions{MessageID: messageID, MaxBytes: maxBytes})
		return err
	})
	tooLarge := invalid("response_too_large", "the message is over the response limit of "+plural.Bytes(int64(c.o.MaxResponseBytes)))
	switch {
	case errors.Is(err, chatstore.ErrTooLarge):
		return nil, tooLarge
	case err != nil:
		return nil, err
	case len(msgs) != 1:
		return nil, fmt.Errorf("mcpserver: a read of message %q of history %q gave %d messages", messageID, id, len(msgs))
	}
	c.tally(0, 1)
	b := append(answerHead(id, openai), `"message":`...)
	if b, err = appendMessage(b, msgs[0], openai, "message"); err != nil {
		return nil, err
	}
	if len(b) > c.o.MaxResponseBytes { // OpenAI's format can be larger
		return nil, tooLarge
	}
	return append(b, '}'), nil
}

func (s *server) appendMessagesTool() tool {
	return tool{
		tool: &mcp.Tool{
			Name:  AppendMessages,
			Title: "Append messages to a chat history",
			Description: "Append messages to the end of a chat history, in the order given; the first messages written create it. Returns how many were written. " +
				"System messages are skipped unless the store keeps them, and a message whose meta.chat_message_id the history already holds is skipped, so writing messages read from a history again writes nothing; " +
				"messages without an id get one. To retry a write whose outcome you did not learn (a timeout) without storing it twice, give it an idempotency_key and send the same key with the same messages again.",
			Annotations: &mcp.ToolAnnotations{Title: "Append messages", DestructiveHint: ptr(false), OpenWorldHint: ptr(false)},
			InputSchema: object([]string{"chat_history_id", "messages"},
				historyIDProp,
				prop{"messages", &jsonschema.Schema{Type: "array", MaxItems: ptr(s.o.MaxWriteMessages), Items: &jsonschema.Schema{Type: "object"},
					Description: fmt.Sprintf("The messages, at most %d, in the format given by format. "+
						`In Haystack's format (the default) a message is {"role": "user"|"assistant"|"system"|"tool", "content": [parts]}, a part being {"text": "…"}, `+
						`{"tool_call": {"tool_name": "…", "arguments": {…}, "id": "…"}}, or {"tool_call_result": {"result": "…", "origin": {the tool_call}, "error": false}}; `+
						`e.g. {"role": "user", "content": [{"text": "Hi"}]}. `+
						`In OpenAI's Chat Completions format, e.g. {"role": "user", "content": "Hi"}.`, s.o.MaxWriteMessages)}},
				formatProp,
				prop{"idempotency_key", &jsonschema.Schema{Type: "string", MinLength: ptr(1), MaxLength: ptr(chatstore.MaxIdempotencyKeyLen), Pattern: "^[!-~]+$",
					Description: "Optional: a key of your own for this write (a UUID will do), 1 to 255 printable ASCII characters without spaces. A write with a key the history holds writes nothing and answers as the first did, replayed true; the same key with other messages is an error. Keys are kept for a day."}},
			),
			OutputSchema: object([]string{"messages_written", "replayed"},
				prop{"messages_written", &jsonschema.Schema{Type: "integer", Minimum: float(0), Description: "How many messages were written (skipped ones are not counted)."}},
				prop{"replayed", &jsonschema.Schema{Type: "boolean", Description: "Whether the write was one the history had already taken with this idempotency_key, and wrote nothing now."}},
			),
		},
		args: []string{"chat_history_id", "messages", "format", "idempotency_key"},
		run:  appendMessages,
	}
}

func appendMessages(ctx context.Context, c call, a args) ([]byte, error) {
	id, err := c.historyID(a)
	if err != nil {
		return nil, err
	}
	openai, err := a.format()
	if err != nil {
		return nil, err
	}
	raw, ok := a.given("messages")
	if !ok {
		return nil, invalid("invalid_request", "messages is required: an array of messages")
	}
	var msgs []chat.Message
	if openai {
		msgs, err = chat.UnmarshalOpenAIList(raw.Raw)
	} else {
		msgs, err = chat.UnmarshalList(raw.Raw)
	}
	if err != nil {
		var ce *chat.Error
		if errors.As(err, &ce) {
			ce.Within("messages")
		}
		return nil, err
	}
	if len(msgs) > c.o.MaxWriteMessages {
		return nil, invalid("too_many_messages", fmt.Sprintf("%d messages in one write; the limit is %d", len(msgs), c.o.MaxWriteMessages))
	}
	key, err := a.str("idempotency_key", false)
	if err != nil {
		return nil, err
	}
	_, keyed := a.given("idempotency_key")
	var (
		n        int
		replayed bool
	)
	err = c.do(ctx, "write", func(ctx context.Context) (err error) {
		if keyed {
			n, replayed, err = c.Store.WriteIdempotent(ctx, id, key, msgs)
		} else {
			n, err = c.Store.Write(ctx, id, msgs)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !replayed {
		c.tally(n, 0)
	}
	b := strconv.AppendInt([]byte(`{"messages_written":`), int64(n), 10)
	b = strconv.AppendBool(append(b, `,"replayed":`...), replayed)
	return append(b, '}'), nil
}

// Pieces of the schemas.

var (
	historyIDProp = prop{"chat_history_id", &jsonschema.Schema{Type: "string", MinLength: ptr(1),
		Description: "The id of the chat history, as list_histories gives it; case-sensitive."}}
	formatProp = prop{"format", &jsonschema.Schema{Type: "string", Enum: []any{"haystack", "openai"}, Default: raw("haystack"),
		Description: `The message format: "haystack" (the default), Haystack's ChatMessage.to_dict(), in which the store keeps messages; or "openai", OpenAI's Chat Completions messages.`}}
)

// prop is one property of an object schema; object keeps their order.
type prop struct {
	name   string
	schema *jsonschema.Schema
}

// object is the schema of a JSON object with these properties and no
// others.
func object(required []string, props ...prop) *jsonschema.Schema {
	o := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{}, Required: required,
		AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}}}
	for _, p := range props {
		o.Properties[p.name] = p.schema
		o.PropertyOrder = append(o.PropertyOrder, p.name)
	}
	return o
}

// historyAnswer is the schema of an answer about one history holding
// what, under name, and optionally more.
func historyAnswer(name string, what *jsonschema.Schema, more ...prop) *jsonschema.Schema {
	return object([]string{"chat_history_id", "format", name}, append([]prop{
		{"chat_history_id", &jsonschema.Schema{Type: "string"}},
		{"format", &jsonschema.Schema{Type: "string", Enum: []any{"haystack", "openai"}}},
		{name, what},
	}, more...)...)
}

// windowSchema is the schema of a window (chatstore.Window.AppendJSON).
func windowSchema() *jsonschema.Schema {
	count := func(desc string) *jsonschema.Schema {
		return &jsonschema.Schema{Type: "integer", Minimum: float(0), Description: desc}
	}
	countOrNull := func(desc string) *jsonschema.Schema {
		return &jsonschema.Schema{Types: []string{"integer", "null"}, Minimum: float(0), Description: desc}
	}
	compaction := object([]string{"through", "created_at", "tokens", "summarized"},
		prop{"through", &jsonschema.Schema{Type: "string", Description: "The chat_message_id of the last message the summary stands for; the summary has this id."}},
		prop{"created_at", &jsonschema.Schema{Type: "string", Description: "When it was recorded (RFC 3339, UTC)."}},
		prop{"tokens", count("The summary's tokens.")},
		prop{"summarized", &jsonschema.Schema{Type: "boolean", Description: "Whether the summary is among the messages returned."}},
	)
	compaction.Type, compaction.Types = "", []string{"object", "null"}
	compaction.Description = "The compaction in effect: its summary stands for the messages through its through message; null for none."
	w := object([]string{"tokens", "max_tokens", "rounds", "more", "exceeded", "pruned", "compaction", "omitted", "omitted_tokens"},
		prop{"tokens", count("The tokens of the messages returned, by the store's counter.")},
		prop{"max_tokens", countOrNull("The budget read with; null for none.")},
		prop{"rounds", count("How many rounds were returned.")},
		prop{"more", &jsonschema.Schema{Type: "boolean", Description: "Whether older rounds were left out (not counting those a summary stands for)."}},
		prop{"exceeded", &jsonschema.Schema{Type: "boolean", Description: "Whether not even the newest round fit max_tokens: then only its latest user message and newest tool-calling steps were returned, and tokens may be over the budget."}},
		prop{"pruned", count("How many tool results were replaced by a placeholder.")},
		prop{"compaction", compaction},
		prop{"omitted", countOrNull("How many stored messages were not returned; null when not known.")},
		prop{"omitted_tokens", countOrNull("Their tokens; null when not known.")},
	)
	w.Description = "What a read of the last rounds returned."
	return w
}

func readOnly(title string) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)}
}

func ptr[T any](v T) *T { return &v }

func float(n int) *float64 { f := float64(n); return &f }

// raw is v's JSON, for a schema's default.
func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only constants come here
	}
	return b
}
