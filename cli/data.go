package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/jsonx"
	"github.com/chatstore/chatstore/internal/plural"
	"github.com/chatstore/chatstore/internal/transcript"
)

const importUsage = `usage: chatstore import [--history ID] [--format haystack|openai] [--store URL | --server URL] [FILE]

Writes the messages of a JSON Lines file (or stdin, or "-") into a history,
in batches of --batch messages. With --history, each line is one message, in
Haystack's format (ChatMessage.to_dict()) or, with --format openai, an OpenAI
Chat Completions message. Without --history, each line is
{"chat_history_id": ID, "message": {...}}, as "export --all" writes; a file
that starts with {"chatstore_export":2} (export --all since version 2) also
sets each history's metadata from its history line. Times are not imported:
the store stamps each message with the time it writes it.

Import is idempotent for messages that carry meta.chat_message_id: a message
whose id the history holds is skipped, so an interrupted import can simply be
run again. Messages without an id get one from the store and are written
again by a second import. It reports what it read, wrote and skipped (system
messages are skipped unless the store keeps them). A bad line stops the
import with its line number; the batches before it stay written.

examples:
  chatstore import --history session-42 conversation.jsonl
  chatstore export --all --store sqlite:old.db | chatstore import --store 'postgres://app@db/chat'
  chatstore import --history s1 --format openai --server http://127.0.0.1:8080 openai.jsonl

flags:
`

const exportUsage = `usage: chatstore export (--history ID | --all) [--format haystack|openai] [--store URL | --server URL] [FILE]

Writes a history, oldest message first, as JSON Lines to FILE or stdout:
one message per line in Haystack's format, or OpenAI's with --format openai.
With --all, every history in a versioned format that "import" without
--history reads back: a first line {"chatstore_export":2}; for each history a
line {"chat_history_id": ID, "history": {"count", "tokens", "created_at",
"updated_at", "metadata"}}, then its messages, each {"chat_history_id": ID, "message":
{...}, "created_at": TIME}.

examples:
  chatstore export --history session-42 > session-42.jsonl
  chatstore export --all backup.jsonl
  chatstore export --history s1 --format openai --server http://127.0.0.1:8080

flags:
`

const historiesUsage = `usage: chatstore histories [--json] [--order id|updated] [--metadata KEY=VALUE]... [--store URL | --server URL]

Lists every history with its message count, in byte order of the ids: one
"ID<TAB>COUNT" line each, or JSON Lines {"chat_history_id", "count",
"tokens", "created_at", "updated_at", "metadata"} with --json ("tokens" is
null from a store that cannot count them). --order updated lists
the most recently changed first; --metadata lists only the histories with
that metadata value (several: all must match); with either, each line has a
third column, when the history last changed.

examples:
  chatstore histories
  chatstore histories --order updated --metadata user_id=u-42
  chatstore histories --server http://127.0.0.1:8080 --token "$TOKEN" --json

flags:
`

const showUsage = `usage: chatstore show ID [--last-k N|all] [--max-tokens N] [--no-compaction] [--prune-tool-results] [--format haystack|openai|text] [--timestamps] [--store URL | --server URL]

Prints the messages of the last N rounds of a history (the store's default
last_k without --last-k), one per line: Haystack JSON, OpenAI JSON, or a
readable transcript with --format text. --timestamps adds when each message
was stored: a "created_at" member in JSON, after the id in text.

A compaction in effect ("chatstore compact") shows its summary in place of
the messages it covers; --no-compaction shows those messages instead.
--max-tokens shows only the newest whole rounds that fit N tokens, by the
store's counter, and --prune-tool-results replaces older large tool results
with Haystack's placeholder. With any of these three flags, a last line
describes the window: in text, its tokens, rounds, what was left out and the
compaction; in JSON, {"window": {...}} as the HTTP API writes it.

A history without messages (an unknown id, a typo, a deleted history) is an
error: show says so on stderr and exits 1, as grep does when nothing matches,
so a script notices. ("count ID" prints 0 for it and exits 0.)

examples:
  chatstore show session-42
  chatstore show session-42 --last-k all --format text
  chatstore show session-42 --format openai --server http://127.0.0.1:8080
  chatstore show session-42 --max-tokens 4000 --prune-tool-results --format text

flags:
`

const countUsage = `usage: chatstore count ID [--store URL | --server URL]

Prints the number of messages of a history (0 for an unknown one).

examples:
  chatstore count session-42

flags:
`

const deleteUsage = `usage: chatstore delete ID [--message MESSAGE_ID] [--store URL | --server URL]

Deletes a history and its messages. Deleting an unknown history is not an
error. With --message, deletes only the message with that chat_message_id
(one the history does not hold is an error).

examples:
  chatstore delete session-42
  chatstore delete session-42 --message 7
  chatstore delete session-42 --server http://127.0.0.1:8080 --token "$TOKEN"

flags:
`

// importBatch is the default number of messages per write of an import.
const importBatch = 500

// openTarget parses the flags of a data command and opens its target.
func openTarget(ctx context.Context, f *flags, args []string, nargs int) (target, []string, error) {
	tf := addTargetFlags(f, DefaultStore, "")
	pos, err := f.parse(args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != nargs && !(nargs < 0 && len(pos) <= -nargs) {
		return nil, nil, f.usageErr("wrong number of arguments: %q", pos)
	}
	t, err := tf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return t, pos, nil
}

func runImport(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "import", importUsage)
	history := f.String("history", "", "history to write into; without it, lines name their history")
	format := f.choice("format", "message format", "haystack", "openai")
	batch := f.Int("batch", importBatch, "messages per write")
	t, pos, err := openTarget(ctx, f, args, -1)
	if err != nil {
		return err
	}
	defer t.Close()
	if *batch < 1 {
		return fmt.Errorf("%w: --batch must be at least 1", ErrUsage)
	}
	in, name, err := openInput(env, pos)
	if err != nil {
		return err
	}
	defer in.Close()

	prog := newProgress(env, "importing")
	var (
		read, written int
		cur           string
		pending       []chatstore.StoredMessage
		timed         bool // some pending message has its time
	)
	// A store keeps the exported times of the messages (WriteStored); a
	// server stamps its own.
	restorer, canRestore := t.(interface {
		WriteStored(ctx context.Context, historyID string, stored []chatstore.StoredMessage) (int, error)
	})
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		var (
			n   int
			err error
		)
		if timed && canRestore {
			n, err = restorer.WriteStored(ctx, cur, pending)
		} else {
			msgs := make([]chat.Message, len(pending))
			for i, sm := range pending {
				msgs[i] = sm.Message
			}
			n, err = t.Write(ctx, cur, msgs)
		}
		if err != nil {
			return fmt.Errorf("import: writing %s to %q: %w", plural.Count(len(pending), "message", "messages"), cur, err)
		}
		written += n
		pending, timed = pending[:0], false
		prog.update(read)
		return nil
	}
	r := bufio.NewReaderSize(in, 1<<16)
	version := 0 // not known before the first line
	for line := 1; ; line++ {
		data, err := r.ReadBytes('\n')
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && version == 0 {
			version = 1
			if v, ok := exportVersion(trimmed); ok {
				if v != 2 {
					return fmt.Errorf("import: %s: line %d: an export of version %d, which this chatstore does not know (it reads 1 and 2); nothing was imported", name, line, v)
				}
				if *history != "" {
					return fmt.Errorf("%w: %s is a versioned export, whose lines name their histories; import it without --history", ErrUsage, name)
				}
				version = 2
				continue
			}
		}
		if len(bytes.TrimSpace(data)) > 0 && version == 2 && bytes.Contains(data, []byte(`"history"`)) {
			id, md, ok := parseHistoryLine(data)
			if ok {
				// A history's metadata, before its messages: set as
				// exported (its times are the import's).
				if err := flush(); err != nil {
					return err
				}
				if len(md) > 0 {
					changes := make(map[string]*string, len(md))
					for k, v := range md {
						changes[k] = &v
					}
					if _, err := t.SetMetadata(ctx, id, changes); err != nil {
						return fmt.Errorf("import: %s: line %d: setting the metadata of %q: %w (%s)", name, line, id, err, importedBefore(read))
					}
				}
				continue
			}
		}
		if len(bytes.TrimSpace(data)) > 0 {
			id, m, at, perr := parseImportLine(data, *history, *format == "openai")
			if perr != nil {
				if ferr := flush(); ferr != nil {
					return ferr
				}
				prog.done()
				return fmt.Errorf("import: %s: line %d: %w (%s)", name, line, perr, importedBefore(read))
			}
			if id != cur || len(pending) >= *batch {
				if err := flush(); err != nil {
					return err
				}
				cur = id
			}
			pending = append(pending, chatstore.StoredMessage{Message: m, CreatedAt: at})
			timed = timed || !at.IsZero()
			read++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("import: reading %s: %w", name, err)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	prog.done()
	fmt.Fprintf(env.Stderr, "imported %s: %s read, %d written, %d skipped (already present, or system messages the store skips)\n",
		name, plural.Count(read, "message", "messages"), written, read-written)
	return nil
}

// importedBefore says what an import that stopped at a bad line had
// imported before it.
func importedBefore(read int) string {
	switch read {
	case 0:
		return "nothing was imported"
	case 1:
		return "the message before it was imported"
	}
	return fmt.Sprintf("the %d messages before it were imported", read)
}

// parseImportLine reads one line of an import: a message, or with no
// --history a {"chat_history_id", "message"} pair, with the message's time
// if the line has one (a version-2 export's "created_at").
func parseImportLine(data []byte, history string, openai bool) (string, chat.Message, time.Time, error) {
	decode := chat.Unmarshal
	if openai {
		decode = chat.UnmarshalOpenAI
	}
	if history != "" {
		m, err := decode(data)
		return history, m, time.Time{}, err
	}
	ms, err := jsonx.Members(data, "chat_history_id", "message", "created_at")
	id, idOK := ms["chat_history_id"]
	msg, msgOK := ms["message"]
	if err != nil || !idOK || !msgOK {
		return "", chat.Message{}, time.Time{}, errors.New(`without --history each line must be {"chat_history_id": ID, "message": {...}}`)
	}
	historyID, err := jsonx.NewDecoder(id.Raw).String()
	if err != nil {
		return "", chat.Message{}, time.Time{}, fmt.Errorf("chat_history_id: %w", err)
	}
	var at time.Time
	if raw, ok := ms["created_at"]; ok {
		d := jsonx.NewDecoder(raw.Raw)
		if null, err := d.Null(); err != nil || !null {
			text, err := d.String()
			if err == nil {
				at, err = time.Parse(time.RFC3339Nano, text)
			}
			if err != nil {
				return "", chat.Message{}, time.Time{}, fmt.Errorf("created_at: want an RFC 3339 time or null: %w", err)
			}
		}
	}
	m, err := decode(msg.Raw)
	return historyID, m, at, err
}

// exportVersion reads the first line of a versioned export,
// {"chatstore_export": N}.
func exportVersion(line []byte) (int, bool) {
	ms, err := jsonx.Members(line, "chatstore_export")
	if err != nil {
		return 0, false
	}
	v, ok := ms["chatstore_export"]
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(string(v.Raw))
	if err != nil {
		return -1, true
	}
	return n, true
}

// parseHistoryLine reads a history's line of a versioned export:
// {"chat_history_id": ID, "history": {"metadata": {...}, ...}}.
func parseHistoryLine(data []byte) (string, map[string]string, bool) {
	var l struct {
		ID      *string `json:"chat_history_id"`
		History *struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"history"`
	}
	if json.Unmarshal(data, &l) != nil || l.ID == nil || l.History == nil {
		return "", nil, false
	}
	return *l.ID, l.History.Metadata, true
}

func openInput(env *Env, pos []string) (io.ReadCloser, string, error) {
	if len(pos) == 0 || pos[0] == "-" {
		return io.NopCloser(env.Stdin), "stdin", nil
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return nil, "", err
	}
	return f, pos[0], nil
}

func runExport(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "export", exportUsage)
	history := f.String("history", "", "history to export")
	all := f.Bool("all", false, "export every history")
	format := f.choice("format", "message format", "haystack", "openai")
	t, pos, err := openTarget(ctx, f, args, -1)
	if err != nil {
		return err
	}
	defer t.Close()
	if (*history == "") == !*all {
		return fmt.Errorf("%w: export needs exactly one of --history ID and --all", ErrUsage)
	}
	out := env.Stdout
	var file *os.File
	if len(pos) == 1 && pos[0] != "-" {
		if file, err = os.Create(pos[0]); err != nil {
			return err
		}
		defer file.Close()
		out = file
	}
	w := bufio.NewWriterSize(out, 1<<16)
	enc := encoder{openai: *format == "openai"}
	prog := newProgress(env, "exporting")
	n := 0
	exportOne := func(id string, wrap bool) error {
		// Page by position, so that a history of millions of messages is
		// never in memory at once.
		for offset := 0; ; {
			var (
				msgs  []chat.Message
				times []time.Time
			)
			if wrap {
				// Lines of a versioned export carry each message's time.
				stored, err := t.ReadStored(ctx, id, chatstore.ReadOptions{Offset: offset, Limit: chatstore.MaxRangeLimit})
				if err != nil {
					return err
				}
				for _, sm := range stored {
					msgs = append(msgs, sm.Message)
					times = append(times, sm.CreatedAt)
				}
			} else if msgs, err = t.Range(ctx, id, offset, chatstore.MaxRangeLimit); err != nil {
				return err
			}
			for i, m := range msgs {
				line, err := enc.line(id, m, wrap)
				if err != nil {
					return fmt.Errorf("export: history %q: %w", id, err)
				}
				if times != nil {
					line = withCreatedAt(line, times[i])
				}
				if _, err := w.Write(line); err != nil {
					return err
				}
				n++
			}
			prog.update(n)
			if len(msgs) < chatstore.MaxRangeLimit {
				return nil
			}
			offset += len(msgs)
		}
	}
	if *all {
		if _, err := w.WriteString(exportHeader + "\n"); err != nil {
			return err
		}
		err = eachHistory(ctx, t, func(h chatstore.HistoryInfo) error {
			// The history's line: its times and metadata, before its
			// messages.
			b := append(appendHistoryID(nil, h.ID), `,"history":{`...)
			b = append(h.AppendFieldsJSON(b), "}}\n"...)
			if _, err := w.Write(b); err != nil {
				return err
			}
			return exportOne(h.ID, true)
		})
	} else {
		err = exportOne(*history, false)
	}
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return err
		}
	}
	prog.done()
	return nil
}

// exportHeader is the first line of a versioned export ("export --all"
// since version 2): then each history has a line
// {"chat_history_id", "history": {"count", "tokens", "created_at",
// "updated_at", "metadata"}} before its messages, and each message line
// {"chat_history_id", "message", "created_at"}. An export without it is of
// version 1: message lines without times, no history lines.
const exportHeader = `{"chatstore_export":2}`

// appendHistoryID appends {"chat_history_id":ID, the start of a line.
func appendHistoryID(b []byte, id string) []byte {
	b = append(b, `{"chat_history_id":`...)
	b, _ = jsonx.AppendString(b, id, jsonx.Compact)
	return b
}

// withCreatedAt adds a "created_at" member to a line that ends with "}\n".
func withCreatedAt(line []byte, t time.Time) []byte {
	line = append(line[:len(line)-2], `,"created_at":`...)
	if t.IsZero() {
		line = append(line, "null"...)
	} else {
		line = append(t.UTC().AppendFormat(append(line, '"'), chatstore.TimeFormat), '"')
	}
	return append(line, "}\n"...)
}

type encoder struct {
	openai bool
	buf    []byte
}

// line encodes one exported message, optionally wrapped with its history id.
func (e *encoder) line(id string, m chat.Message, wrap bool) ([]byte, error) {
	b := e.buf[:0]
	var err error
	if wrap {
		b = append(appendHistoryID(b, id), `,"message":`...)
	}
	if e.openai {
		b, err = m.AppendOpenAI(b, chat.OpenAIOptions{})
	} else {
		b, err = m.AppendJSON(b)
	}
	if err != nil {
		return nil, err
	}
	if wrap {
		b = append(b, '}')
	}
	e.buf = append(b, '\n')
	return e.buf, nil
}

// eachHistory calls fn for every history, page by page.
func eachHistory(ctx context.Context, t target, fn func(chatstore.HistoryInfo) error) error {
	return listHistories(ctx, t, chatstore.ListOptions{Limit: chatstore.MaxListLimit}, fn)
}

// listHistories calls fn for every history opts selects, page by page.
func listHistories(ctx context.Context, t target, opts chatstore.ListOptions, fn func(chatstore.HistoryInfo) error) error {
	cursor := ""
	for {
		opts.Cursor = cursor
		page, err := t.List(ctx, opts)
		if err != nil {
			return err
		}
		for _, h := range page.Histories {
			if err := fn(h); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

func runHistories(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "histories", historiesUsage)
	asJSON := f.Bool("json", false, "JSON Lines output")
	order := f.choice("order", "list order: id (byte order) or updated (most recently changed first)", "id", "updated")
	filter := metadataFlag{}
	f.Var(filter, "metadata", "only histories with this metadata `KEY=VALUE` (repeatable; all must match)")
	t, _, err := openTarget(ctx, f, args, 0)
	if err != nil {
		return err
	}
	defer t.Close()
	opts := chatstore.ListOptions{Limit: chatstore.MaxListLimit}
	if *order == "updated" {
		opts.Order = chatstore.ByUpdated
	}
	if len(filter) > 0 {
		opts.Metadata = filter
	}
	w := bufio.NewWriter(env.Stdout)
	err = listHistories(ctx, t, opts, func(h chatstore.HistoryInfo) error {
		if *asJSON {
			_, err := w.Write(append(h.AppendJSON(nil), '\n'))
			return err
		}
		if opts.Order == chatstore.ByUpdated || opts.Metadata != nil {
			_, err := fmt.Fprintf(w, "%s\t%d\t%s\n", h.ID, h.Count, formatTime(h.UpdatedAt))
			return err
		}
		_, err := fmt.Fprintf(w, "%s\t%d\n", h.ID, h.Count)
		return err
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

func runShow(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "show", showUsage)
	lastK := f.String("last-k", "", "rounds to show, or all (default: the store's last_k)")
	format := f.choice("format", "message format", "haystack", "openai", "text")
	timestamps := f.Bool("timestamps", false, "show when each message was stored (a created_at member in JSON, beside the role in text)")
	var maxTokens budget
	f.Var(&maxTokens, "max-tokens", "show the newest whole rounds that fit this many `tokens`, by the store's counter")
	uncompacted := f.Bool("no-compaction", false, "show the messages a compaction's summary stands for, not the summary")
	prune := f.Bool("prune-tool-results", false, "replace older large tool results with Haystack's placeholder")
	t, pos, err := openTarget(ctx, f, args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
	var (
		msgs  []chat.Message
		times []time.Time
	)
	k := defaultLastK(t)
	if *lastK != "" {
		var perr error
		if k, perr = chatstore.ParseLastK(*lastK); perr != nil {
			return fmt.Errorf("%w: --last-k: %w", ErrUsage, perr)
		}
	}
	o := chatstore.ReadOptions{LastK: k, MaxTokens: int64(maxTokens), Uncompacted: *uncompacted, PruneToolResults: *prune}
	var win chatstore.Window
	windowed := maxTokens > 0 || *uncompacted || *prune
	if windowed {
		o.Window = &win
	}
	switch {
	case *timestamps:
		var stored []chatstore.StoredMessage
		stored, err = t.ReadStored(ctx, pos[0], o)
		for _, sm := range stored {
			msgs = append(msgs, sm.Message)
			times = append(times, sm.CreatedAt)
		}
	case windowed:
		msgs, err = t.Read(ctx, pos[0], o)
	case *lastK == "":
		msgs, err = t.Retrieve(ctx, pos[0])
	default:
		msgs, err = t.RetrieveLast(ctx, pos[0], k)
	}
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		// Say why nothing is printed, so that a mistyped id is not taken
		// for an empty answer. With --last-k 0 a history that has messages
		// rightly prints none.
		n, err := t.Count(ctx, pos[0])
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("show: history %q is empty or unknown (ids are case-sensitive; \"chatstore histories\" lists them)", pos[0])
		}
	}
	w := bufio.NewWriter(env.Stdout)
	if *format == "text" {
		var stamps []string // each message's time, with --timestamps
		for _, t := range times {
			stamps = append(stamps, formatTime(t))
		}
		transcript.Write(w, msgs, stamps)
		if windowed {
			fmt.Fprintln(w, windowLine(win))
		}
		return w.Flush()
	}
	enc := encoder{openai: *format == "openai"}
	for i, m := range msgs {
		line, err := enc.line("", m, false)
		if err != nil {
			return err
		}
		if times != nil {
			line = withCreatedAt(line, times[i])
		}
		w.Write(line)
	}
	if windowed {
		w.Write(append(win.AppendJSON([]byte(`{"window":`)), "}\n"...))
	}
	return w.Flush()
}

func runCount(ctx context.Context, env *Env, args []string) error {
	t, pos, err := openTarget(ctx, newFlags(env, "count", countUsage), args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
	n, err := t.Count(ctx, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, n)
	return nil
}

func runDelete(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "delete", deleteUsage)
	message := f.String("message", "", "delete only the message with this chat_message_id")
	t, pos, err := openTarget(ctx, f, args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
	if *message != "" {
		return t.DeleteMessage(ctx, pos[0], *message)
	}
	return t.Delete(ctx, pos[0])
}

// progress shows a count on stderr while a long command runs, only when
// stderr is a terminal: on a pipe the command writes nothing but data.
type progress struct {
	env   *Env
	what  string
	start time.Time
	last  time.Time
	shown bool
}

func newProgress(env *Env, what string) *progress {
	return &progress{env: env, what: what, start: time.Now()}
}

func (p *progress) update(n int) {
	if !p.env.StderrTerminal || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	rate := float64(n) / max(time.Since(p.start).Seconds(), 1e-9)
	fmt.Fprintf(p.env.Stderr, "\r\033[K%s: %s (%.0f/s)", p.what, plural.Count(n, "message", "messages"), rate)
	p.shown = true
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.env.Stderr, "\r\033[K")
	}
}

// redact hides the password of a store URL for logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); !ok {
		return raw // as given: memory:// stays memory://
	}
	return u.Redacted()
}
