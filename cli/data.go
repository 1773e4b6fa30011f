package cli

import (
	"bufio"
	"bytes"
	"context"
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
{"chat_history_id": ID, "message": {...}}, as "export --all" writes.

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
With --all, every history, each line {"chat_history_id": ID, "message": {...}},
which "import" without --history reads back.

examples:
  chatstore export --history session-42 > session-42.jsonl
  chatstore export --all backup.jsonl
  chatstore export --history s1 --format openai --server http://127.0.0.1:8080

flags:
`

const historiesUsage = `usage: chatstore histories [--json] [--store URL | --server URL]

Lists every history with its message count, in byte order of the ids: one
"ID<TAB>COUNT" line each, or JSON Lines {"chat_history_id": ..., "count": ...}
with --json.

examples:
  chatstore histories
  chatstore histories --server http://127.0.0.1:8080 --token "$TOKEN" --json

flags:
`

const showUsage = `usage: chatstore show ID [--last-k N|all] [--format haystack|openai|text] [--store URL | --server URL]

Prints the messages of the last N rounds of a history (the store's default
last_k without --last-k), one per line: Haystack JSON, OpenAI JSON, or a
readable transcript with --format text.

A history without messages (an unknown id, a typo, a deleted history) is an
error: show says so on stderr and exits 1, as grep does when nothing matches,
so a script notices. ("count ID" prints 0 for it and exits 0.)

examples:
  chatstore show session-42
  chatstore show session-42 --last-k all --format text
  chatstore show session-42 --format openai --server http://127.0.0.1:8080

flags:
`

const countUsage = `usage: chatstore count ID [--store URL | --server URL]

Prints the number of messages of a history (0 for an unknown one).

examples:
  chatstore count session-42

flags:
`

const deleteUsage = `usage: chatstore delete ID [--store URL | --server URL]

Deletes a history and its messages. Deleting an unknown history is not an
error.

examples:
  chatstore delete session-42
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
		pending       []chat.Message
	)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		n, err := t.Write(ctx, cur, pending)
		if err != nil {
			return fmt.Errorf("import: writing %s to %q: %w", plural.Count(len(pending), "message", "messages"), cur, err)
		}
		written += n
		pending = pending[:0]
		prog.update(read)
		return nil
	}
	r := bufio.NewReaderSize(in, 1<<16)
	for line := 1; ; line++ {
		data, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(data)) > 0 {
			id, m, perr := parseImportLine(data, *history, *format == "openai")
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
			pending = append(pending, m)
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
// --history a {"chat_history_id", "message"} pair.
func parseImportLine(data []byte, history string, openai bool) (string, chat.Message, error) {
	decode := chat.Unmarshal
	if openai {
		decode = chat.UnmarshalOpenAI
	}
	if history != "" {
		m, err := decode(data)
		return history, m, err
	}
	ms, err := jsonx.Members(data, "chat_history_id", "message")
	id, idOK := ms["chat_history_id"]
	msg, msgOK := ms["message"]
	if err != nil || !idOK || !msgOK {
		return "", chat.Message{}, errors.New(`without --history each line must be {"chat_history_id": ID, "message": {...}}`)
	}
	historyID, err := jsonx.NewDecoder(id.Raw).String()
	if err != nil {
		return "", chat.Message{}, fmt.Errorf("chat_history_id: %w", err)
	}
	m, err := decode(msg.Raw)
	return historyID, m, err
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
			msgs, err := t.Range(ctx, id, offset, chatstore.MaxRangeLimit)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				line, err := enc.line(id, m, wrap)
				if err != nil {
					return fmt.Errorf("export: history %q: %w", id, err)
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
		err = eachHistory(ctx, t, func(h chatstore.HistoryInfo) error { return exportOne(h.ID, true) })
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

type encoder struct {
	openai bool
	buf    []byte
}

// line encodes one exported message, optionally wrapped with its history id.
func (e *encoder) line(id string, m chat.Message, wrap bool) ([]byte, error) {
	b := e.buf[:0]
	var err error
	if wrap {
		b = append(b, `{"chat_history_id":`...)
		if b, err = jsonx.AppendString(b, id, jsonx.Compact); err != nil {
			return nil, err
		}
		b = append(b, `,"message":`...)
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
	cursor := ""
	for {
		page, err := t.List(ctx, chatstore.ListOptions{Limit: chatstore.MaxListLimit, Cursor: cursor})
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
	t, _, err := openTarget(ctx, f, args, 0)
	if err != nil {
		return err
	}
	defer t.Close()
	w := bufio.NewWriter(env.Stdout)
	err = eachHistory(ctx, t, func(h chatstore.HistoryInfo) error {
		if *asJSON {
			b := []byte(`{"chat_history_id":`)
			b, _ = jsonx.AppendString(b, h.ID, jsonx.Compact)
			b = append(b, `,"count":`...)
			b = strconv.AppendInt(b, int64(h.Count), 10)
			_, err := w.Write(append(b, "}\n"...))
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
	t, pos, err := openTarget(ctx, f, args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
	var msgs []chat.Message
	if *lastK == "" {
		msgs, err = t.Retrieve(ctx, pos[0])
	} else {
		k, perr := chatstore.ParseLastK(*lastK)
		if perr != nil {
			return fmt.Errorf("%w: --last-k: %w", ErrUsage, perr)
		}
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
		transcript.Write(w, msgs)
		return w.Flush()
	}
	enc := encoder{openai: *format == "openai"}
	for _, m := range msgs {
		line, err := enc.line("", m, false)
		if err != nil {
			return err
		}
		w.Write(line)
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
	t, pos, err := openTarget(ctx, newFlags(env, "delete", deleteUsage), args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
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
