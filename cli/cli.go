// Package cli is the chatstore command: serve, mcp, import, export,
// histories, show, search, count, delete, erase, expire, sweep, scrub, truncate,
// fork, compact, compactions, bench and version. cmd/chatstore only
// calls Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/client"
	"github.com/chatstore/chatstore/redisstore"

	// The backends the command can open by URL (redisstore above).
	_ "github.com/chatstore/chatstore/memstore"
	_ "github.com/chatstore/chatstore/pgstore"
	_ "github.com/chatstore/chatstore/sqlitestore"
)

// ErrUsage marks a command line that does not parse; the command exits 2.
var ErrUsage = errors.New("usage error")

// DefaultStore is the store used when neither --store nor CHATSTORE_STORE
// names one: a SQLite file in the working directory.
const DefaultStore = "sqlite:chatstore.db"

// Env is what a command reads from its surroundings, so tests can run
// commands in-process with their own.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// StderrTerminal says whether stderr is a terminal (progress bars,
	// text logs); StdoutTerminal the same for stdout.
	StderrTerminal, StdoutTerminal bool
	// Ready, if set, is called with the server's address once it listens.
	Ready func(addr string)
}

// OSEnv is the process's own environment.
func OSEnv() *Env {
	return &Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		StderrTerminal: isTerminal(os.Stderr), StdoutTerminal: isTerminal(os.Stdout),
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type command struct {
	name, summary, usage string
	run                  func(ctx context.Context, env *Env, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"serve", "run the HTTP server", serveUsage, runServe},
		{"mcp", "serve a store to an MCP client (an agent) over stdin and stdout", mcpUsage, runMCP},
		{"import", "write messages from a JSON Lines file into a history", importUsage, runImport},
		{"export", "write a history (or all) as JSON Lines", exportUsage, runExport},
		{"histories", "list histories and their message counts", historiesUsage, runHistories},
		{"show", "print the last rounds of a history", showUsage, runShow},
		{"search", "find messages by their words, across histories", searchUsage, runSearch},
		{"count", "print the number of messages of a history", countUsage, runCount},
		{"delete", "delete a history, or one message of it", deleteUsage, runDelete},
		{"erase", "delete every history whose metadata matches (a person's data)", eraseUsage, runErase},
		{"expire", "set when a history expires: a sliding TTL, a fixed time, or the default", expireUsage, runExpire},
		{"sweep", "remove the histories of a store that have expired", sweepUsage, runSweep},
		{"scrub", "remove what deleted histories leave in a store's files (SQLite)", scrubUsage, runScrub},
		{"truncate", "delete a message and every message after it", truncateUsage, runTruncate},
		{"fork", "copy a history, up to a message, into a new one", forkUsage, runFork},
		{"compact", "record a summary that stands for a history's older messages", compactUsage, runCompact},
		{"compactions", "list a history's compaction records", compactionsUsage, runCompactions},
		{"bench", "measure a store or a server with the standard workloads", benchUsage, runBench},
		{"version", "print the version", versionUsage, runVersion},
	}
}

const mainUsage = `chatstore stores and serves the chat histories of LLM applications,
with Haystack's ChatMessage format and store semantics.

usage: chatstore COMMAND [flags] [arguments]

commands:
%s
Run "chatstore COMMAND --help" for a command's flags and examples.

examples:
  chatstore serve                                  # HTTP API on 127.0.0.1:8080, SQLite file chatstore.db
  chatstore serve --store 'postgres://app@db/chat' --addr :8080 --tokens-file tokens.txt
  chatstore mcp --store sqlite:///home/me/chatstore.db   # MCP for a desktop agent, on stdio
  chatstore show session-42 --last-k 2
  chatstore export --all > backup.jsonl
`

func usage() string {
	var b strings.Builder
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-*s %s\n", width, c.name, c.summary)
	}
	return fmt.Sprintf(mainUsage, b.String())
}

// Run runs the command line args (without the program name). It returns
// an error wrapping ErrUsage for a command line that does not parse.
func Run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage())
		return fmt.Errorf("%w: no command given", ErrUsage)
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			for _, c := range commands {
				if c.name == args[1] {
					fmt.Fprint(env.Stdout, c.usage)
					return nil
				}
			}
			return fmt.Errorf("%w: unknown command %q", ErrUsage, args[1])
		}
		fmt.Fprint(env.Stdout, usage())
		return nil
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(ctx, env, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	fmt.Fprint(env.Stderr, usage())
	return fmt.Errorf("%w: unknown command %q", ErrUsage, name)
}

// flags is a command's flag set, with usage text from the command and
// values from CHATSTORE_* environment variables for flags not given.
type flags struct {
	*flag.FlagSet
	env   *Env
	usage string
	envOf map[string]string // flag name → environment variable
}

// envVar is the environment variable of a flag: CHATSTORE_ and the flag's
// name in upper case with '_' for '-' (--max-body-bytes:
// CHATSTORE_MAX_BODY_BYTES).
func envVar(flagName string) string {
	return "CHATSTORE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func newFlags(env *Env, name, usage string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, env: env, usage: usage, envOf: map[string]string{}}
}

// usageErr reports a command line that does not parse, with the command's
// synopsis (the first line of its usage) and where to find more.
func (f *flags) usageErr(format string, args ...any) error {
	synopsis, _, _ := strings.Cut(f.usage, "\n")
	fmt.Fprintf(f.env.Stderr, "%s\nRun \"chatstore %s --help\" for flags and examples.\n", synopsis, f.Name())
	return fmt.Errorf("%w: %s: %s", ErrUsage, f.Name(), fmt.Sprintf(format, args...))
}

// fromEnv makes the named flags take their values from their environment
// variables (envVar) when not given on the command line, and says so in
// their usage.
func (f *flags) fromEnv(names ...string) {
	for _, n := range names {
		fl := f.Lookup(n)
		v := envVar(n)
		fl.Usage += " (env " + v + ")"
		f.envOf[n] = v
	}
}

// Duration defines a time.Duration flag, as flag.FlagSet.Duration does, but
// one whose errors say what a duration looks like: the flag package says only
// "parse error", also for a number without a unit. Every duration flag of
// the commands is defined through it or DurationVar, for the command line
// and for CHATSTORE_* variables alike.
func (f *flags) Duration(name string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	f.DurationVar(p, name, value, usage)
	return p
}

// DurationVar is Duration into p, in place of flag.FlagSet's.
func (f *flags) DurationVar(p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	// The back quotes make PrintDefaults show "-name duration", as for
	// flag.Duration, rather than "-name value".
	f.Var((*durationValue)(p), name, usage+" (a `duration` with a unit: 500ms, 10s, 2m)")
}

type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return fmt.Errorf("a duration needs a unit, such as %q (units: ms, s, m, h)", s+"s")
		}
		return errors.New("not a duration: write a number with a unit, such as 500ms, 10s or 1m30s")
	}
	*d = durationValue(v)
	return nil
}

// choice is a string flag that only takes one of a few values.
type choice struct {
	value   string
	choices []string
}

func (c *choice) String() string { return c.value }

func (c *choice) Set(v string) error {
	if !slices.Contains(c.choices, v) {
		return fmt.Errorf("must be %s, got %q", joinOr(c.choices), v)
	}
	c.value = v
	return nil
}

// choice adds a flag taking one of choices, the first the default.
func (f *flags) choice(name, usage string, choices ...string) *string {
	c := &choice{value: choices[0], choices: choices}
	f.Var(c, name, usage+": "+joinOr(choices))
	return &c.value
}

func joinOr(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// parse parses args, allowing flags after positional arguments
// ("show ID --last-k 2"), then fills unset flags from the environment. It
// returns the positional arguments.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(f.env.Stdout, f.usage)
				f.SetOutput(f.env.Stdout)
				f.PrintDefaults()
				return nil, err
			}
			return nil, f.usageErr("%v", err)
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	names := make([]string, 0, len(f.envOf))
	for n := range f.envOf {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := f.env.Getenv(f.envOf[n])
		if set[n] || v == "" {
			continue
		}
		if err := f.Set(n, v); err != nil {
			return nil, fmt.Errorf("%w: %s=%q: %v", ErrUsage, f.envOf[n], v, err)
		}
	}
	return pos, nil
}

// target is what the data commands work on: a store opened by URL, or a
// running server. *chatstore.Store and *client.Client both are one.
type target interface {
	Write(ctx context.Context, historyID string, msgs []chat.Message) (int, error)
	Retrieve(ctx context.Context, historyID string) ([]chat.Message, error)
	RetrieveLast(ctx context.Context, historyID string, lastK int) ([]chat.Message, error)
	Range(ctx context.Context, historyID string, offset, limit int) ([]chat.Message, error)
	Count(ctx context.Context, historyID string) (int, error)
	Delete(ctx context.Context, historyID string) error
	List(ctx context.Context, opts chatstore.ListOptions) (chatstore.Page, error)
	Info(ctx context.Context, historyID string) (chatstore.HistoryInfo, bool, error)
	SetMetadata(ctx context.Context, historyID string, changes map[string]*string) (chatstore.HistoryInfo, error)
	SetExpiry(ctx context.Context, historyID string, x chatstore.Expiry) (chatstore.HistoryInfo, error)
	Read(ctx context.Context, historyID string, o chatstore.ReadOptions) ([]chat.Message, error)
	ReadStored(ctx context.Context, historyID string, o chatstore.ReadOptions) ([]chatstore.StoredMessage, error)
	DeleteMessage(ctx context.Context, historyID, messageID string) error
	Truncate(ctx context.Context, historyID, fromID string) (int, error)
	Fork(ctx context.Context, historyID, newID, through string) (chatstore.HistoryInfo, error)
	Search(ctx context.Context, o chatstore.SearchOptions) (chatstore.SearchPage, error)
	Compact(ctx context.Context, historyID, through string, summary chat.Message) (chatstore.Compaction, error)
	Compactions(ctx context.Context, historyID string) ([]chatstore.Compaction, error)
	Erase(ctx context.Context, metadata map[string]string) (chatstore.Erasure, error)
	Close() error
}

var (
	_ target = (*chatstore.Store)(nil)
	_ target = (*client.Client)(nil)
)

// targetFlags adds --store, --server and --token.
type targetFlags struct {
	store, server, token *string
}

// addTargetFlags adds the flags; storeUsage, if not empty, is said of
// --store after the URL forms.
func addTargetFlags(f *flags, defaultStore, storeUsage string) targetFlags {
	t := targetFlags{
		store:  f.String("store", defaultStore, "store URL: sqlite:FILE, memory://, postgres://…, redis://…"+storeUsage),
		server: f.String("server", "", "work on a running server at this URL instead of a store"),
		token:  f.String("token", "", "bearer token for --server"),
	}
	f.fromEnv("store", "server", "token")
	return t
}

func (t targetFlags) open(ctx context.Context) (target, error) {
	if *t.server != "" {
		return client.New(*t.server, &client.Options{Token: *t.token})
	}
	// A command that is not the server has no log: its error says what went
	// wrong, and go-redis's records would only repeat it on stderr in a
	// format of their own.
	routeGoRedisLog(nil)
	return chatstore.Open(ctx, *t.store, nil)
}

// routeGoRedisLog sends the records go-redis writes itself (a pool that
// cannot dial, a cluster that changes) to log, or drops them when log is
// nil. go-redis v9 has a single logger per process (redis.SetLogger) and no
// logger per client, so the stores leave it alone and the program sets it:
// here the command, once, before it opens its store (a process runs one
// command).
func routeGoRedisLog(log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	redis.SetLogger(redisstore.SlogLogger(log))
}

const versionUsage = `usage: chatstore version

Prints the version of chatstore (its module version, or the VCS revision it
was built from), the Go version it was built with, and the platform.

examples:
  chatstore version
  chatstore --version
`

func runVersion(_ context.Context, env *Env, args []string) error {
	f := newFlags(env, "version", versionUsage)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.usageErr("takes no arguments, got %q", pos)
	}
	fmt.Fprintf(env.Stdout, "chatstore %s (%s, %s/%s)\n", Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// Version is the module version of the binary, or the VCS revision it was
// built from, or "devel".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}
