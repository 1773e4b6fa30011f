package cli

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"strings"
	"unicode"

	"github.com/chatstore/chatstore"
)

const searchUsage = `usage: chatstore search QUERY [--metadata KEY=VALUE]... [--role ROLE[,ROLE]] [--prefix P] [--since T] [--until T] [--reasoning] [--limit N] [--json] [--store URL | --server URL]

Finds messages by their words, most relevant first, across every history
(a server's: those of the token's tenant). The query language: words (all
must match), "exact phrases", -excluded, prefix*; case and accents do not
matter. One line per hit: HISTORY<TAB>MESSAGE_ID<TAB>ROLE<TAB>TIME<TAB>SNIPPET,
the matching words in the snippet in bold on a terminal, between ** and **
otherwise; or JSON Lines {"chat_history_id", "chat_message_id", "role",
"created_at", "snippet" (HTML, matches in <mark>), "score"} with --json.
SQLite, PostgreSQL and memory stores search; Redis does not.

examples:
  chatstore search 'refund failed'
  chatstore search '"card declined" -paypal' --metadata user_id=u-42 --role user
  chatstore search 'invoice*' --since 2026-11-01T00:00:00Z --server http://127.0.0.1:8080 --token "$TOKEN" --json

flags:
`

func runSearch(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "search", searchUsage)
	asJSON := f.Bool("json", false, "JSON Lines output")
	filter := metadataFlag{}
	f.Var(filter, "metadata", "only histories with this metadata `KEY=VALUE` (repeatable; all must match)")
	roles := f.String("role", "", "only messages of these `roles` (user, assistant, system, tool; comma-separated)")
	prefix := f.String("prefix", "", "only histories whose id starts with this")
	since := f.String("since", "", "only messages written at or after this `time` (RFC 3339)")
	until := f.String("until", "", "only messages written before this `time` (RFC 3339)")
	reasoning := f.Bool("reasoning", false, "search the messages' reasoning too")
	limit := f.Int("limit", chatstore.DefaultSearchLimit, "hits to print at most")
	t, pos, err := openTarget(ctx, f, args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
	if *limit < 1 {
		return f.usageErr("--limit must be 1 or more, got %d", *limit)
	}
	params := map[string]string{"q": pos[0], "prefix": *prefix, "role": *roles, "since": *since, "until": *until, "reasoning": fmt.Sprint(*reasoning)}
	o, err := chatstore.ParseSearchParams(func(name string) string { return params[name] })
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	o.Limit = min(*limit, chatstore.MaxSearchLimit)
	if len(filter) > 0 {
		o.Metadata = filter
	}
	bold := [2]string{"**", "**"}
	if env.StdoutTerminal {
		bold = [2]string{"\x1b[1m", "\x1b[0m"}
	}
	w := bufio.NewWriter(env.Stdout)
	for n := 0; n < *limit; {
		page, err := t.Search(ctx, o)
		if err != nil {
			return err
		}
		for _, h := range page.Hits {
			if n == *limit {
				break
			}
			n++
			if *asJSON {
				w.Write(append(h.AppendJSON(nil), '\n'))
				continue
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", h.HistoryID, h.MessageID, h.Role, formatTime(h.CreatedAt), plainSnippet(h.Snippet, bold))
		}
		if page.NextCursor == "" {
			break
		}
		o.Cursor = page.NextCursor
	}
	return w.Flush()
}

// plainSnippet turns a snippet's HTML into one line of text, its marks
// into bold's two strings.
func plainSnippet(s string, bold [2]string) string {
	// The marks become two private-use characters while the text is
	// unescaped (a "<mark>" written in a message is "&lt;mark&gt;" here,
	// and stays text), and stored text must not reach the terminal as
	// control sequences: each control character, and each of those two
	// already in the text, is a space, which Fields then folds away.
	const open, end = '\uE000', '\uE001'
	s = strings.Map(func(r rune) rune {
		if r == open || r == end {
			return ' '
		}
		return r
	}, s)
	s = strings.NewReplacer("<mark>", string(open), "</mark>", string(end)).Replace(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, html.UnescapeString(s))
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer(string(open), bold[0], string(end), bold[1]).Replace(s)
}
