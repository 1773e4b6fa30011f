package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/plural"
)

const compactUsage = `usage: chatstore compact ID --through MESSAGE_ID --summary-file FILE [--json] [--store URL | --server URL]

Records that the message in FILE (one message in Haystack's JSON, as
ChatMessage.to_dict() writes it; "-" for stdin) summarizes the messages of ID
up to and including MESSAGE_ID. From then on, reads of the last rounds ("show",
the HTTP API's last_k reads and contexts, the retriever) return the summary in
their place, followed by the messages written after MESSAGE_ID, until a newer
compaction covers as much or more or MESSAGE_ID is deleted. The messages stay:
"show --no-compaction", "export" and paged reads show them.

Unless its meta has one, the summary is marked as Haystack's compactors mark
theirs: meta.context_compaction {"strategy": "summarization", "through":
MESSAGE_ID}. Prints "MESSAGE_ID<TAB>TOKENS", the summary's tokens by the
store's counter, or with --json the record as "compactions --json" lists it. A
message id the history does not hold is an error (exit 1), and so is a store
that keeps no compaction records.

examples:
  chatstore compact session-42 --through 17 --summary-file summary.json
  echo '{"role":"user","content":[{"text":"Summary: …"}]}' | chatstore compact session-42 --through 17 --summary-file - --server http://127.0.0.1:8080

flags:
`

const compactionsUsage = `usage: chatstore compactions ID [--json] [--store URL | --server URL]

Lists the compaction records of a history ("chatstore compact"), newest
first: one "THROUGH<TAB>TOKENS<TAB>CREATED_AT<TAB>STATE" line each, where STATE
is "in-effect" for the one that reads use and "-" for the others; or JSON Lines
{"through", "summary", "tokens", "created_at", "in_effect"} with --json.

examples:
  chatstore compactions session-42
  chatstore compactions session-42 --json --server http://127.0.0.1:8080

flags:
`

// budget is a --max-tokens flag: a whole number of tokens ≥ 1; 0 when not
// given.
type budget int64

func (b *budget) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *budget) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return fmt.Errorf("want a whole number of tokens ≥ 1, got %q", s)
	}
	*b = budget(n)
	return nil
}

// windowLine describes a window for people, after a transcript: its tokens
// and rounds, what it left out and why, and the compaction in effect.
func windowLine(w chatstore.Window) string {
	tokens := plural.Count(int(w.Tokens), "token", "tokens")
	if w.MaxTokens > 0 {
		tokens = strconv.FormatInt(w.Tokens, 10) + " of " + plural.Count(int(w.MaxTokens), "token", "tokens")
	}
	parts := []string{tokens + ", " + plural.Count(w.Rounds, "round", "rounds")}
	if w.Exceeded {
		parts = append(parts, "over the budget: even the newest round does not fit; shown are its latest user message and the newest agent steps that fit")
	}
	switch {
	case w.More && w.Omitted > 0:
		parts = append(parts, fmt.Sprintf("older rounds left out (%s, %s not shown)", plural.Count(int(w.Omitted), "message", "messages"), plural.Count(int(w.OmittedTokens), "token", "tokens")))
	case w.More:
		parts = append(parts, "older rounds left out")
	}
	if w.Pruned > 0 {
		parts = append(parts, plural.Count(w.Pruned, "tool result", "tool results")+" pruned")
	}
	if c := w.Compaction; c != nil {
		where := "its summary is older than the window"
		if w.Summarized {
			where = "its summary (" + plural.Count(int(c.Tokens), "token", "tokens") + ") stands for #" + c.Through + " and the messages before it"
		}
		parts = append(parts, "compaction through #"+c.Through+" in effect: "+where)
	}
	return "window: " + strings.Join(parts, "; ")
}

func runCompact(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "compact", compactUsage)
	through := f.String("through", "", "chat_message_id of the last message the summary stands for")
	file := f.String("summary-file", "", "`file` holding the summary, one message in Haystack's JSON (- for stdin)")
	asJSON := f.Bool("json", false, "print the record as JSON")
	t, pos, err := openTarget(ctx, f, args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
	if *through == "" || *file == "" {
		return f.usageErr("needs --through MESSAGE_ID and --summary-file FILE")
	}
	in, name, err := openInput(env, []string{*file})
	if err != nil {
		return err
	}
	data, err := io.ReadAll(in)
	in.Close()
	if err != nil {
		return fmt.Errorf("compact: reading %s: %w", name, err)
	}
	summary, err := chat.Unmarshal(data)
	if err != nil {
		return fmt.Errorf("compact: %s: the summary must be one message in Haystack's JSON: %w", name, err)
	}
	c, err := t.Compact(ctx, pos[0], *through, summary)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(env.Stdout)
	if err := printCompaction(w, c, *asJSON, false); err != nil {
		return err
	}
	return w.Flush()
}

func runCompactions(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "compactions", compactionsUsage)
	asJSON := f.Bool("json", false, "JSON Lines output")
	t, pos, err := openTarget(ctx, f, args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
	cs, err := t.Compactions(ctx, pos[0])
	if err != nil {
		return err
	}
	w := bufio.NewWriter(env.Stdout)
	for _, c := range cs {
		if err := printCompaction(w, c, *asJSON, true); err != nil {
			return err
		}
	}
	return w.Flush()
}

// printCompaction prints a record as one line: JSON, or
// THROUGH<TAB>TOKENS, with CREATED_AT<TAB>STATE for a listing.
func printCompaction(w io.Writer, c chatstore.Compaction, asJSON, listing bool) error {
	if asJSON {
		b, err := c.AppendJSON(nil)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	if !listing {
		_, err := fmt.Fprintf(w, "%s\t%d\n", c.Through, c.Tokens)
		return err
	}
	state := "-"
	if c.InEffect {
		state = "in-effect"
	}
	_, err := fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", c.Through, c.Tokens, formatTime(c.CreatedAt), state)
	return err
}
