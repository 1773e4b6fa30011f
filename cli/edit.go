package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/client"
)

const truncateUsage = `usage: chatstore truncate ID --from MESSAGE_ID [--store URL | --server URL]

Deletes the message whose chat_message_id is MESSAGE_ID and every message
written after it, and prints how many it deleted: what an edit-and-regenerate
does before writing the edited message. A message id the history does not
hold is an error (exit 1).

examples:
  chatstore truncate session-42 --from 7
  chatstore truncate session-42 --from 7 --server http://127.0.0.1:8080 --token "$TOKEN"

flags:
`

const forkUsage = `usage: chatstore fork ID NEW [--through MESSAGE_ID] [--store URL | --server URL]

Creates history NEW with copies of the messages of ID (ids and times kept)
up to and including MESSAGE_ID, or all of them without --through, and ID's
metadata, and prints "NEW<TAB>COUNT". NEW must not exist.

examples:
  chatstore fork session-42 session-42-b --through 5
  chatstore fork session-42 backup

flags:
`

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(chatstore.TimeFormat)
}

func runTruncate(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "truncate", truncateUsage)
	from := f.String("from", "", "chat_message_id of the first message to delete")
	t, pos, err := openTarget(ctx, f, args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
	if *from == "" {
		return fmt.Errorf("%w: truncate needs --from MESSAGE_ID", ErrUsage)
	}
	n, err := t.Truncate(ctx, pos[0], *from)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, n)
	return nil
}

func runFork(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "fork", forkUsage)
	through := f.String("through", "", "chat_message_id of the last message to copy (default: all)")
	t, pos, err := openTarget(ctx, f, args, 2)
	if err != nil {
		return err
	}
	defer t.Close()
	info, err := t.Fork(ctx, pos[0], pos[1], *through)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\t%d\n", pos[1], info.Count)
	return nil
}

// metadataFlag collects --metadata KEY=VALUE flags.
type metadataFlag map[string]string

func (m metadataFlag) String() string { return "" }

func (m metadataFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	m[k] = val
	return nil
}

// defaultLastK is the last_k of a read without --last-k: the store's
// default, which a server's client asks the server for.
func defaultLastK(t target) int {
	if d, ok := t.(interface{ DefaultLastK() int }); ok {
		return d.DefaultLastK()
	}
	return client.StoreDefault
}
