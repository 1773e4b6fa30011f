package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/chattest"
	"github.com/chatstore/chatstore/internal/transcript"
)

// TestBudgetCommands: compact, compactions and show with a budget, on an
// embedded store and through a server, each checked against what the
// store itself returns.
func TestBudgetCommands(t *testing.T) {
	ctx := context.Background()
	served, url := newServedStore(t)
	name := "memory://cli-budget-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	embedded, err := chatstore.Open(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer embedded.Close()
	summaryFile := filepath.Join(t.TempDir(), "summary.json")
	if err := os.WriteFile(summaryFile, []byte(`{"role":"user","content":[{"text":"The user asked about the weather in Paris: sunny."}]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		st     *chatstore.Store
		target []string
	}{
		{"store", embedded, []string{"--store", name}},
		{"server", served, []string{"--server", url}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			cmd := func(args ...string) (string, error) {
				t.Helper()
				return run(t, append(args, tc.target...)...)
			}
			if _, err := st.Write(ctx, "h", chattest.AgentTurns()); err != nil {
				t.Fatal(err)
			}
			out, err := cmd("compactions", "h")
			if err != nil || out != "" {
				t.Errorf("compactions before any: %q %v", out, err)
			}
			out, err = cmd("compact", "h", "--through", "5", "--summary-file", summaryFile)
			recs, _ := st.Compactions(ctx, "h")
			if err != nil || len(recs) != 1 || out != fmt.Sprintf("5\t%d\n", recs[0].Tokens) {
				t.Fatalf("compact: %q %v; the store holds %+v", out, err, recs)
			}
			if recs[0].Summary.Texts()[0] != "The user asked about the weather in Paris: sunny." || recs[0].Summary.Meta[chatstore.CompactionMetaKey] == nil {
				t.Errorf("the summary recorded: %+v", recs[0].Summary)
			}
			out, err = cmd("compactions", "h")
			if want := fmt.Sprintf("5\t%d\t%s\tin-effect\n", recs[0].Tokens, formatTime(recs[0].CreatedAt)); err != nil || out != want {
				t.Errorf("compactions: %q %v, want %q", out, err, want)
			}
			out, err = cmd("compactions", "h", "--json")
			want, _ := recs[0].AppendJSON(nil)
			if err != nil || out != string(want)+"\n" {
				t.Errorf("compactions --json: %q %v, want %s", out, err, want)
			}
			// From stdin, through an earlier message: a second record,
			// not in effect (the first covers more).
			e := newEnv(nil)
			e.Stdin = strings.NewReader(`{"role":"user","content":[{"text":"Paris."}]}`)
			if err := Run(ctx, e.Env, append([]string{"compact", "h", "--through", "3", "--summary-file", "-", "--json"}, tc.target...)); err != nil || !strings.HasPrefix(e.out.String(), `{"through":"3","summary":{"role":"user"`) {
				t.Errorf("compact from stdin --json: %q %v", e.out.String(), err)
			}
			out, err = cmd("compactions", "h")
			if lines := strings.Split(out, "\n"); err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "3\t") || !strings.HasSuffix(lines[0], "\t-") ||
				!strings.HasPrefix(lines[1], "5\t") || !strings.HasSuffix(lines[1], "\tin-effect") {
				t.Errorf("two compactions, newest first: %q %v", out, err)
			}

			// show with a budget, without the compaction, with pruning:
			// the store's messages, then its window.
			for _, c := range []struct {
				flags []string
				o     chatstore.ReadOptions
			}{
				{[]string{"--max-tokens", "60"}, chatstore.ReadOptions{LastK: chatstore.DefaultLastK, MaxTokens: 60}},
				{[]string{"--max-tokens", "3", "--last-k", "all"}, chatstore.ReadOptions{LastK: chatstore.All, MaxTokens: 3}},
				{[]string{"--no-compaction", "--last-k", "all"}, chatstore.ReadOptions{LastK: chatstore.All, Uncompacted: true}},
				{[]string{"--no-compaction", "--prune-tool-results", "--max-tokens", "500"}, chatstore.ReadOptions{LastK: chatstore.DefaultLastK, Uncompacted: true, PruneToolResults: true, MaxTokens: 500}},
				{[]string{"--last-k", "all", "--prune-tool-results"}, chatstore.ReadOptions{LastK: chatstore.All, PruneToolResults: true}},
			} {
				var win chatstore.Window
				c.o.Window = &win
				msgs, err := st.Read(ctx, "h", c.o)
				if err != nil {
					t.Fatal(err)
				}
				var text bytes.Buffer
				transcript.Write(&text, msgs, nil)
				text.WriteString(windowLine(win) + "\n")
				if out, err := cmd(append([]string{"show", "h", "--format", "text"}, c.flags...)...); err != nil || out != text.String() {
					t.Errorf("show %q --format text:\n%s%v\nwant\n%s", c.flags, out, err, text.String())
				}
				out, err := cmd(append([]string{"show", "h"}, c.flags...)...)
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if err != nil || len(lines) != len(msgs)+1 || lines[len(lines)-1] != `{"window":`+string(win.AppendJSON(nil))+`}` {
					t.Errorf("show %q: %v\n%s\nwant %d messages and the window %s", c.flags, err, out, len(msgs), win.AppendJSON(nil))
				}
				out, err = cmd(append([]string{"show", "h", "--timestamps"}, c.flags...)...)
				shown, _ := strings.CutSuffix(out, `{"window":`+string(win.AppendJSON(nil))+"}\n")
				if err != nil || strings.Count(shown, `"created_at":"20`) != len(msgs) || len(shown) == len(out) {
					t.Errorf("show %q --timestamps: %v\n%s", c.flags, err, out)
				}
			}
			// Without the flags, no window line; the compaction still applies.
			if out, err := cmd("show", "h", "--format", "text", "--last-k", "all"); err != nil || strings.Contains(out, "window:") || !strings.HasPrefix(out, "user #5\n  The user asked about the weather in Paris") {
				t.Errorf("show without budget flags:\n%s%v", out, err)
			}

			// Errors.
			if _, err := cmd("compact", "h", "--through", "99", "--summary-file", summaryFile); err == nil || !(errors.Is(err, chatstore.ErrNotFound) || strings.Contains(err.Error(), "message_not_found")) {
				t.Errorf("compact through an unknown message: %v", err)
			}
			bad := filepath.Join(t.TempDir(), "bad.json")
			os.WriteFile(bad, []byte(`{"role":"nobody","content":[]}`), 0o644)
			if _, err := cmd("compact", "h", "--through", "5", "--summary-file", bad); err == nil || !strings.Contains(err.Error(), "summary") || !strings.Contains(err.Error(), "bad.json") {
				t.Errorf("compact with a bad summary: %v", err)
			}
			if _, err := cmd("compact", "h", "--through", "5", "--summary-file", filepath.Join(t.TempDir(), "absent.json")); err == nil {
				t.Error("compact with a summary file that does not exist: no error")
			}
			for _, args := range [][]string{
				{"compact", "h", "--through", "5"},
				{"compact", "h", "--summary-file", summaryFile},
				{"compact", "--through", "5", "--summary-file", summaryFile},
				{"compactions"},
				{"show", "h", "--max-tokens", "0"},
				{"show", "h", "--max-tokens", "-5"},
				{"show", "h", "--max-tokens", "many"},
			} {
				if _, err := cmd(args...); !errors.Is(err, ErrUsage) {
					t.Errorf("%q: %v, want a usage error", args, err)
				}
			}
			if recs, _ := st.Compactions(ctx, "h"); len(recs) != 2 {
				t.Errorf("after the failed compacts the store holds %d records, want 2", len(recs))
			}
		})
	}

	// A store that keeps no compaction records says so.
	db := "sqlite:" + filepath.Join(t.TempDir(), "plain.db")
	if _, err := run(t, "compactions", "h", "--store", db); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("compactions on SQLite: %v", err)
	}
}
