package cli

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
)

const eraseUsage = `usage: chatstore erase --metadata KEY=VALUE [--metadata …] [--store URL | --server URL]

Deletes every history whose metadata holds every KEY=VALUE given, with
its messages: a person's data, by a key such as user_id. It deletes them
100 at a time and prints how many histories and messages it removed; an
erasure stopped part way (an error, Ctrl-C, a killed process) has removed
some, and running the same command again finishes the job. Against a
server, only the histories the token may see. The erasure is logged (the
pairs matched and the counts, never the content).

examples:
  chatstore erase --metadata user_id=u-42
  chatstore erase --metadata user_id=u-42 --server http://127.0.0.1:8080 --token "$TOKEN"

flags:
`

func runErase(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "erase", eraseUsage)
	filter := metadataFlag{}
	f.Var(filter, "metadata", "erase histories with this metadata `KEY=VALUE` (repeatable; all must match; at least one)")
	t, _, err := openTarget(ctx, f, args, 0)
	if err != nil {
		return err
	}
	defer t.Close()
	if len(filter) == 0 {
		return fmt.Errorf("%w: give at least one --metadata KEY=VALUE: erase never deletes everything", ErrUsage)
	}
	erased, err := t.Erase(ctx, filter)
	pairs := make([]string, 0, len(filter))
	for _, k := range slices.Sorted(maps.Keys(filter)) {
		pairs = append(pairs, k+"="+filter[k])
	}
	slog.Info("erasure", "matched", strings.Join(pairs, " "), "histories", erased.Histories, "messages", erased.Messages, "done", err == nil)
	if err != nil {
		return fmt.Errorf("erased %d histories (%d messages) before: %w; run the same command again to finish", erased.Histories, erased.Messages, err)
	}
	fmt.Fprintf(env.Stdout, "erased %d histories, %d messages\n", erased.Histories, erased.Messages)
	return nil
}
