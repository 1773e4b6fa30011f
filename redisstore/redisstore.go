// Package redisstore is the Redis chatstore backend, on go-redis v9's
// universal client, so one store works against a single Redis node and
// against Redis Cluster. It registers these URL schemes:
//
//	redis://[user:password@]host:6379/0?key_prefix=chat:&ttl=24h
//	rediss://…                       (TLS)
//	redis+cluster://host1:7000,host2:7001,host3:7002?key_prefix=chat:
//	rediss+cluster://…               (TLS)
//
// key_prefix (default "chatstore:") namespaces a deployment: DeleteAll
// deletes only its keys, whatever the prefixes of other deployments on the
// same Redis (one may start with another). ttl, when set, makes a history
// expire as a whole that long after its last change (expire.go; chatstore
// reads it itself as Options.TTL). Every other parameter is
// go-redis's own (dial_timeout, pool_size, …); unknown ones are errors.
//
// All keys of one history carry the history id in a hash tag, so they live
// in one cluster slot, and a write is one server-side script: atomic, one
// round trip, with ids, skips and round bookkeeping done inside Redis
// (scripts.go). Reading the last k rounds is one script too, and reads only
// those rounds. A sorted set of history ids (not KEYS) serves listings.
//
// For token budgets (driver.Coster) each message is stored with its cost,
// as the counter of the tokenizer= parameter (chatstore.Options.Tokenizer)
// measured it, and each history keeps their sum, in the same scripts;
// compaction records (driver.Compactor) are a list of the history's. The
// counter's name is recorded per history and for the store. Opening a store
// whose costs are of another counter, or were never stored (data of an
// earlier release), measures every message again first (Prepare): a SCAN
// of the Redis database and a read of each history to measure, in batches,
// with progress in the log, resumed by the next open if it stops.
//
// go-redis logs some events itself, through one logger per process that a
// store does not touch; redis.SetLogger(redisstore.SlogLogger(logger)) sends
// them to a slog.Logger.
package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

func init() {
	for _, scheme := range []string{"redis", "rediss", "redis+cluster", "rediss+cluster"} {
		chatstore.Register(scheme, open)
	}
}

// DefaultKeyPrefix namespaces the keys when no prefix is given.
const DefaultKeyPrefix = "chatstore:"

// Options configure a Store. A nil *Options means the defaults.
type Options struct {
	// KeyPrefix starts every key of the store; "" means DefaultKeyPrefix.
	// It may not contain '{' or '}'. Every key of a store is the prefix
	// followed by '{' (a history's keys), '}' (the indexes of recency and
	// metadata, and the name of the tokenizer of the costs) or "histories"
	// (the listing), so no store's keys start with another store's prefix
	// and a '{' or '}', even when one prefix starts with the other, and
	// DeleteAll finds its own with the patterns PREFIX{* and PREFIX}*.
	KeyPrefix string
	// TTL, when positive, makes a history expire as a whole TTL after its
	// last change: the store's default TTL (driver.Policy's, for "",
	// which chatstore.Options.TTL and Store.SetDefaultTTL set too). Every
	// change renews the expiry of all of the history's keys; messages
	// never expire one by one, which would orphan tool results from their
	// calls. An idempotency key expires after its window or when its
	// history expires as of the keyed write, whichever is sooner (a later
	// renewal does not extend it: docs/STORE.md). chatstore.New leaves it as it is
	// unless its own Options.TTL is set.
	TTL time.Duration
	// Tokenizer names the counter that measured the costs the store
	// keeps for token budgets, as chatstore.Options.Tokenizer names it
	// ("" is chatstore.TokenizerApprox); chatstore.Open passes its own.
	// Costs of another counter are measured again (Prepare).
	Tokenizer string
	// Logger receives the progress of measuring the messages again
	// (Prepare); nil means slog.Default().
	Logger *slog.Logger
}

// Store is a Redis driver.
type Store struct {
	c      redis.UniversalClient
	owned  bool
	prefix string
	index  string // the sorted set of history ids
	// updated is the sorted set of history ids by -UpdatedAt.
	updated string
	// policy is the clock and default TTLs of expiry (driver.Expirer).
	policy driver.Policy
	// single is true for a *redis.Client (one node, where a script may
	// touch keys of any slot): writes then update the indexes themselves.
	single bool
	// counter names the tokenizer of the costs (driver.Coster), measure
	// measures with it, and tokenizer is the key that records it for the
	// whole store (Prepare).
	counter   string
	measure   driver.Measure
	tokenizer string
	log       *slog.Logger
	// tailSize is how many messages the last tail read held, from the
	// oldest to the newest: how many the next fast tail read fetches
	// (tail.go).
	tailSize atomic.Int64
	// listed is what this process knows of its own listings on a
	// cluster: the histories it has listed, and those whose listing
	// failed.
	listed listings
}

var (
	_ driver.Store       = (*Store)(nil)
	_ driver.Pinger      = (*Store)(nil)
	_ driver.Tailer      = (*Store)(nil)
	_ driver.KeyedWriter = (*Store)(nil)
	_ driver.Coster      = (*Store)(nil)
	_ driver.Compactor   = (*Store)(nil)

	_ driver.CompactionTailer = (*Store)(nil)
	_ driver.NativeExpirer    = (*Store)(nil)
)

// New returns a Store on a client the caller owns (Close leaves it open).
// The client may be a *redis.Client, a *redis.ClusterClient, or any other
// redis.UniversalClient. It does not connect: each history whose costs are
// not of opts.Tokenizer's counter is measured again when first used;
// Prepare measures them all at once, as Open does.
func New(client redis.UniversalClient, opts *Options) (*Store, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		return nil, fmt.Errorf("redisstore: %w: key prefix %q may not contain '{' or '}'", chatstore.ErrInvalidOptions, o.KeyPrefix)
	}
	if o.TTL < 0 || (o.TTL > 0 && o.TTL < time.Millisecond) || o.TTL > chatstore.MaxTTL {
		return nil, fmt.Errorf("redisstore: %w: ttl %v must be 1ms to %v (or 0 for none)", chatstore.ErrInvalidOptions, o.TTL, chatstore.MaxTTL)
	}
	m, err := chatstore.NewMeter(o.Tokenizer) // ErrInvalidOptions, saying so
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	_, single := client.(*redis.Client)
	s := &Store{c: client, prefix: o.KeyPrefix, index: o.KeyPrefix + "histories", updated: o.KeyPrefix + "}updated",
		single:  single,
		counter: m.Name(), measure: m.Measure, tokenizer: o.KeyPrefix + "}tokenizer", log: o.Logger}
	s.policy.SetTTL("", o.TTL.Milliseconds())
	return s, nil
}

// Open connects with a client of its own (closed by Close) and measures
// again what the store holds if its costs are not of opts.Tokenizer's
// counter (Prepare). rawURL is one of the forms in the package
// documentation, read as chatstore.Open reads it; its key_prefix and ttl
// override opts.
func Open(ctx context.Context, rawURL string, opts *Options) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w: the URL does not parse", chatstore.ErrInvalidOptions)
	}
	return openURL(ctx, u, opts)
}

// open leaves go-redis's logger alone. go-redis v9 writes its own records
// (a pool that cannot dial, for one) through a single logger per process,
// redis.SetLogger; its Options have no logger per client. Were a store to set
// it, the records of every Redis client in the process would go to whichever
// store was opened last, and a program's own choice would be overridden.
// The program sets it once, with SlogLogger; chatstore serve does.
func open(ctx context.Context, u *url.URL, co *chatstore.Options) (driver.Store, error) {
	var o Options
	if co != nil {
		o.Tokenizer = co.Tokenizer
	}
	return openURL(ctx, u, &o)
}

// SlogLogger adapts log for redis.SetLogger: go-redis's own records then go
// to log at level Warn, with component=go-redis, rather than to stderr in a
// format of their own. go-redis has one such logger per process, so a
// program sets it once, for all its Redis clients; stores do not set it.
func SlogLogger(log *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return slogLogger{log}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.LogAttrs(ctx, slog.LevelWarn, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}

func openURL(ctx context.Context, u *url.URL, opts *Options) (*Store, error) {
	client, o, err := NewClient(u, opts)
	if err != nil {
		return nil, err
	}
	s, err := New(client, o)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.owned = true
	if err := s.Ping(ctx); err != nil {
		client.Close()
		return nil, err
	}
	if err := s.Prepare(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return s, nil
}

// NewClient reads u (as chatstore.ParseURL returns it) as Open does: it
// returns a new client for it, which the caller closes, and opts with the
// key prefix and ttl the URL sets (the prefix DefaultKeyPrefix when none is
// set). It does not connect. chatstore bench --raw connects with it.
func NewClient(u *url.URL, opts *Options) (redis.UniversalClient, *Options, error) {
	v := *u
	u = &v
	q := u.Query()
	var o Options
	if opts != nil {
		o = *opts
	}
	if vs, ok := q["key_prefix"]; ok {
		o.KeyPrefix = vs[len(vs)-1]
		q.Del("key_prefix")
	}
	if vs, ok := q["ttl"]; ok {
		// chatstore.Open takes ttl out of the URL itself (Options.TTL);
		// Open reads it here, as chatstore does.
		d, err := chatstore.ParseTTL(vs[len(vs)-1])
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: %w: %w", chatstore.ErrInvalidOptions, err)
		}
		o.TTL = d
		q.Del("ttl")
	}
	u.RawQuery = q.Encode()
	var client redis.UniversalClient
	scheme, cluster := strings.CutSuffix(u.Scheme, "+cluster")
	if cluster {
		// go-redis spells a cluster as redis://first?addr=second&addr=third.
		hosts := strings.Split(u.Host, ",")
		v := url.URL{Scheme: scheme, User: u.User, Host: hosts[0], Path: u.Path}
		for _, h := range hosts[1:] {
			q.Add("addr", h)
		}
		v.RawQuery = q.Encode()
		copts, err := redis.ParseClusterURL(v.String())
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: %w: %s", chatstore.ErrInvalidOptions, parseErr(err, u))
		}
		client = redis.NewClusterClient(copts)
	} else {
		v := *u
		v.Scheme = scheme
		ropts, err := redis.ParseURL(v.String())
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: %w: %s", chatstore.ErrInvalidOptions, parseErr(err, u))
		}
		client = redis.NewClient(ropts)
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	return client, &o, nil
}

// parseErr describes a go-redis URL error without quoting a password.
func parseErr(err error, u *url.URL) string {
	if _, has := u.User.Password(); has {
		return "cannot parse " + u.Redacted()
	}
	return err.Error()
}

// Close closes the client if the Store opened it.
func (s *Store) Close() error {
	if s.owned {
		return s.c.Close()
	}
	return nil
}

// Ping checks that Redis answers (every master, on a cluster).
func (s *Store) Ping(ctx context.Context) error {
	err := s.forEachNode(ctx, func(ctx context.Context, c redis.Cmdable) error { return c.Ping(ctx).Err() })
	if err != nil {
		return fmt.Errorf("redisstore: ping: %w", translate(err))
	}
	return nil
}

// translate marks errors that mean Redis cannot be reached, or is not
// ready, as chatstore.ErrUnavailable, keeping the original in the chain.
// Context errors stay as they are.
func translate(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, redis.ErrClosed), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %w", chatstore.ErrUnavailable, err)
	}
	msg := err.Error()
	for _, p := range []string{"LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "EOF", "connection", "i/o timeout"} {
		if strings.Contains(msg, p) {
			return fmt.Errorf("%w: %w", chatstore.ErrUnavailable, err)
		}
	}
	return err
}

// escapeID keeps '{' and '}' out of the hash tag, which would otherwise end
// early and scatter one history's keys over several slots.
func escapeID(id string) string {
	if !strings.ContainsAny(id, "{}%") {
		return id
	}
	r := strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")
	return r.Replace(id)
}

// keys returns the keys of a history: state, messages, kinds, times, ids
// (list), ids (hash), metadata, costs, compaction records, idempotency
// keys (KEY:k), layout 1's round starts, and a removal's mark (KEY:u).
// scripts.go describes them.
// They are cut from one string: every call of the store builds them.
func (s *Store) keys(id string) []string {
	base := s.base(id)
	const names = "smtcdigwzkru"
	var b strings.Builder
	b.Grow(len(names) * (len(base) + 1))
	for i := range len(names) {
		b.WriteString(base)
		b.WriteByte(names[i])
	}
	all, n := b.String(), len(base)+1
	out := make([]string, len(names))
	for i := range out {
		out[i] = all[i*n : (i+1)*n]
	}
	return out
}

// Indexes into keys' answer.
const (
	kS, kM, kT, kC, kD, kI, kG, kW, kZ, kK, kR, kU = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
	// s to z: what scripts on a history get, and expire with a TTL.
	nHistoryKeys = 9
)

// base starts the name of every key of a history: the prefix, then the id
// in a hash tag, so that they share a cluster slot.
func (s *Store) base(id string) string {
	return s.prefix + "{" + escapeID(id) + "}:"
}

// Count returns the number of messages of a history: one HGET.
func (s *Store) Count(ctx context.Context, historyID string) (int64, error) {
	n, err := s.c.HGet(ctx, s.keys(historyID)[0], "c").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: count %q: %w", historyID, translate(err))
	}
	return n, nil
}

// Write runs the write script: one round trip, which lists the history
// too (on a cluster, beside the script when this process has yet to list
// it, as for a history the write creates: prelist).
func (s *Store) Write(ctx context.Context, historyID string, records []driver.Record) (int, error) {
	cmd, listed, err := s.runWriteScript(ctx, historyID, s.keys(historyID), nil, writeScript, writeSrc, nil, records)
	var res []int64
	if err == nil {
		res, err = cmd.Int64Slice()
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: write %q: %w", historyID, translateWrite(err))
	}
	if len(res) != 6 {
		return 0, fmt.Errorf("redisstore: write %q: %w: the script's answer is malformed", historyID, chatstore.ErrIncompatibleSchema)
	}
	written, up, wiped, relist := res[0], res[3], res[4], res[5]
	if err := s.listWritten(ctx, historyID, written > 0, relist, wiped == 1, listed, up); err != nil {
		return int(written), err
	}
	return int(written), nil
}

// WriteKeyed implements driver.KeyedWriter: the keyed write script checks
// the key, writes and records the key in one step (scripts.go).
func (s *Store) WriteKeyed(ctx context.Context, historyID string, key driver.Key, records []driver.Record) (driver.Outcome, error) {
	k := s.keys(historyID)
	px := max(key.TTL.Milliseconds(), 1)
	cmd, listed, err := s.runWriteScript(ctx, historyID, k, []string{s.base(historyID) + "k:" + key.Key, k[kK]},
		keyedWriteScript, keyedWriteSrc, []any{key.Fingerprint, px}, records)
	var res []any
	if err == nil {
		res, err = cmd.Slice()
	}
	if err != nil {
		return driver.Outcome{}, fmt.Errorf("redisstore: write %q: %w", historyID, translateWrite(err))
	}
	malformed := func() error {
		return fmt.Errorf("redisstore: write %q: %w: the script's answer is malformed", historyID, chatstore.ErrIncompatibleSchema)
	}
	if len(res) != 2 && len(res) != 6 {
		return driver.Outcome{}, malformed()
	}
	if rec, ok := res[1].(string); ok && res[0] == int64(-1) {
		// A replay: the record is "WRITTEN FINGERPRINT". The first write's
		// listing may have failed after its script (list), so a replay,
		// which is rare, lists the history again.
		ns, fp, ok := strings.Cut(rec, " ")
		n, err := strconv.Atoi(ns)
		if !ok || err != nil || n < 0 {
			return driver.Outcome{}, malformed()
		}
		if err := s.relist(ctx, historyID); err != nil {
			return driver.Outcome{}, fmt.Errorf("redisstore: write %q: %w", historyID, translate(err))
		}
		return driver.Outcome{Written: n, Fingerprint: fp, Replayed: true}, nil
	}
	if len(res) != 6 {
		return driver.Outcome{}, malformed()
	}
	written, ok1 := res[0].(int64)
	_, ok2 := res[2].(int64) // created
	up, ok3 := res[3].(int64)
	wiped, ok4 := res[4].(int64)
	relist, ok5 := res[5].(int64)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || written < 0 {
		return driver.Outcome{}, malformed()
	}
	if err := s.listWritten(ctx, historyID, written > 0, relist, wiped == 1, listed, up); err != nil {
		return driver.Outcome{}, err
	}
	return driver.Outcome{Written: int(written), Fingerprint: key.Fingerprint}, nil
}

// runWriteScript runs a write script (writeBody) on a history of keys k:
// its history keys, then extra, then scriptKeys'; its arguments head, then
// writeArgs'. On a cluster it adds the history to the indexes beside the
// script when this process has not listed it (prelistStep), and answers
// what came of that. A history of an earlier layout is upgraded first.
func (s *Store) runWriteScript(ctx context.Context, historyID string, k, extra []string, script *redis.Script, src string, head []any, records []driver.Record) (*redis.Cmd, prelisted, error) {
	now := s.policy.Now()
	pre := s.prelistStep(historyID, now)
	keys := s.scriptKeys(k, append(k[:nHistoryKeys:nHistoryKeys], extra...))
	args := writeArgs(head, now, s.defaultTTL(historyID), historyID, s.counter, pre, records)
	var (
		cmd    *redis.Cmd
		listed prelisted
	)
	err := s.upgraded(ctx, historyID, func() error {
		cmd, listed = s.runListedWrite(ctx, script, src, keys, args, historyID, pre)
		return cmd.Err()
	})
	return cmd, listed, err
}

// listWritten updates the indexes after a write that wrote (on a cluster:
// list) or wiped an expired history to start anew (unlist, which lists
// the new one as it is), as the write script answered (writeBody): up is
// the history's updated time after the write, and listed what came of
// adding it to the indexes beside the script (prelist). On a cluster the
// script asks for a listing after it (relist 1) only when no write of this
// release has asked for it in up's step of the recency index
// (driver.RecencyShift), or when it found a removal's mark (markSrc); it
// answers 2 where the addition beside the script, if it took, did the
// listing. A listing of this process that failed is tried again at the
// history's next write, whatever its step. So most writes make one round
// trip, including a history's first, and listings order the histories of
// a step by their own times.
func (s *Store) listWritten(ctx context.Context, historyID string, wrote bool, relist int64, wiped bool, listed prelisted, up int64) error {
	if wrote && !s.single {
		switch {
		case relist == 1, relist == 2 && !listed.added, listed.err != nil, s.listed.failedListing(historyID):
			err := s.list(ctx, historyID, up)
			s.listed.note(historyID, stepOf(up), err == nil)
			if err != nil {
				return err
			}
		case listed.step >= 0:
			s.listed.note(historyID, stepOf(up), true)
		}
	}
	if wiped {
		if _, err := s.unlist(ctx, []string{historyID}, nil); err != nil {
			s.listed.note(historyID, stepOf(up), false)
			return fmt.Errorf("redisstore: write %q: the messages are stored, but listing them failed: %w: %w: %w", historyID, chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable, err)
		}
	}
	return nil
}

// scriptKeys adds to a write script's keys (of history keys k) the listing
// indexes on a single node, where the script updates them itself, or the
// history's KEY:u on a cluster (writeBody).
func (s *Store) scriptKeys(k, keys []string) []string {
	if s.single {
		return append(keys, s.index, s.updated)
	}
	return append(keys, k[kU])
}

// prelistStep is the step of the recency index that a write at now adds
// its history in beside its script (prelist), or -1 for none: on a
// cluster, for a history this process has not listed, which the write may
// be creating. A history must be listed before its first write is
// acknowledged; adding it beside the script saves that write a round trip.
func (s *Store) prelistStep(historyID string, now int64) int64 {
	if s.single || s.listed.has(historyID) {
		return -1
	}
	return stepOf(now)
}

// prelisted is what came of adding a history to the indexes beside a
// write's script: in step (-1: not tried), whether the recency index did
// not hold it (so that it took), or the error.
type prelisted struct {
	step  int64
	added bool
	err   error
}

// prelist runs a write script's command together with the addition of its
// history to the listing indexes, in one pipeline: on a cluster the
// indexes are on other nodes than the history, so that the two run at
// once, in no set order. It adds the history to the recency index in step
// only if the index does not hold it (ZADD NX), so that a write to a
// history that exists (which may store nothing: a replay, messages whose
// ids it holds) never moves it there before its script has said so; the
// script answers whether the write still needs a listing (writeBody). A
// removal from the indexes that meets the id before the script runs
// leaves a mark the script finds (markSrc). The script's own error is the
// command's.
func (s *Store) prelist(ctx context.Context, script redis.Cmder, historyID string, step int64) prelisted {
	var byID, byTime *redis.IntCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		_ = p.Process(ctx, script)
		byID = p.ZAdd(ctx, s.index, redis.Z{Member: historyID})
		byTime = p.ZAddNX(ctx, s.updated, redis.Z{Score: s.recencyScore(stepFirst(step)), Member: historyID})
		return nil
	})
	listErr := cmp.Or(byID.Err(), byTime.Err())
	if err != nil && listErr == nil && script.Err() == nil {
		// The pipeline failed as a whole, and no command says so (a
		// hook's error, for one): take every command as failed.
		script.SetErr(err)
		listErr = err
	}
	return prelisted{step: step, added: listErr == nil && byTime.Val() == 1, err: listErr}
}

// list updates the listing indexes after a write to a cluster: the indexes
// live in other slots, so they cannot be part of the script. A history is
// listed beside its script (prelist) or after it, and a removal re-checks
// after removing it (unlist, markSrc), so a listed id may have no history
// for a moment but a history is never unlisted; its place by recency may
// lag behind for as long. If this fails, the write is stored but unlisted:
// that is ErrOutcomeUnknown, so that a client retries with its idempotency
// key, whose replay lists the history. The history is added to the index by id at every listing, not
// only at its first write: a no-op for Redis when it is there, and so the
// next write in a later step lists a history whose first listing failed.
//
// The recency index is given the last millisecond of the write's step,
// not its time: the changes after it in the step then never stand after
// it, whether they leave the index alone (listWritten) or place the
// history at its exact time (ZADD LT, as edits and earlier releases do,
// leaves it where it is). Listings order a step by the histories' own
// times either way (rank); a process of a release before steps, which
// pages by the index's times and the histories' own, would page back to a
// history whose entry lagged behind it, for ever, where one ahead of it
// within its step is at worst passed over in that step.
func (s *Store) list(ctx context.Context, historyID string, updated int64) error {
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.listIn(ctx, p, historyID, updated)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: write %q: the messages are stored, but listing them failed: %w: %w: %w", historyID, chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable, err)
	}
	return nil
}

// listIn adds to p the commands that list a history: in the index by id,
// and by recency at updated's place (recencyScore), unless it stands at a
// newer one.
func (s *Store) listIn(ctx context.Context, p redis.Pipeliner, historyID string, updated int64) {
	p.ZAdd(ctx, s.index, redis.Z{Member: historyID})
	p.ZAddLT(ctx, s.updated, redis.Z{Score: s.recencyScore(updated), Member: historyID})
}

// recencyScore is the score in the recency index of a history listed
// (list, relist) at updated: minus the last millisecond of its step on a
// cluster (list says why), minus updated itself on one node, where the
// write script keeps exact times.
func (s *Store) recencyScore(updated int64) float64 {
	if s.single {
		return float64(-updated)
	}
	return float64(-stepLast(stepOf(updated)))
}

// writeArgs appends the write script's arguments to args: now, the
// history's default TTL, codes, times, the history id, the counter, the
// costs and their sum, the step of the addition beside the script (pre),
// the supplied ids, the JSON of every record (writeBody).
func writeArgs(args []any, now, ttl int64, historyID, counter string, pre int64, records []driver.Record) []any {
	codes := make([]byte, len(records))
	costs := make([]byte, 0, costSize*(len(records)+1))
	var sum driver.Cost
	nids := 0
	for i, r := range records {
		codes[i] = '0' + byte(r.Kind)
		if r.HasID {
			codes[i] += 3
			nids++
		}
		costs = appendCost(costs, r.Cost)
		sum = sum.Add(r.Cost)
	}
	costs = appendCost(costs, sum)
	times := strconv.FormatInt(records[0].CreatedAt, 10)
	for _, r := range records[1:] {
		if r.CreatedAt != records[0].CreatedAt {
			b := make([]byte, 0, 14*len(records))
			for i, r := range records {
				if i > 0 {
					b = append(b, ' ')
				}
				b = strconv.AppendInt(b, r.CreatedAt, 10)
			}
			times = string(b)
			break
		}
	}
	args = slices.Grow(args, 9+nids+len(records))
	n := costSize * len(records)
	args = append(args, now, ttl, codes, times, historyID, counter, costs[:n], costs[n:], pre)
	for _, r := range records {
		if r.HasID {
			args = append(args, r.ID)
		}
	}
	for _, r := range records {
		args = append(args, r.JSON)
	}
	return args
}

// noRetry is a command that go-redis must not send again when it fails:
// a write script that Redis ran but whose answer was lost would run twice.
// go-redis retries commands that fail on a network error (a Client
// MaxRetries times, 3 by default; a ClusterClient up to MaxRedirects times)
// unless the command's NoRetry says not to; the store's reads keep those
// retries.
type noRetry struct{ *redis.Cmd }

func (noRetry) NoRetry() bool { return true }

// runWrite runs a write script with EVALSHA, or with EVAL if Redis answers
// that it does not hold the script (then nothing ran), as noRetry commands.
func (s *Store) runWrite(ctx context.Context, script *redis.Script, src string, keys []string, args []any) *redis.Cmd {
	cmd, _ := s.runListedWrite(ctx, script, src, keys, args, "", -1)
	return cmd
}

// runListedWrite is runWrite with a step (pre ≥ 0: prelistStep), beside
// the addition of the history to the indexes in that step (prelist), which
// it answers.
func (s *Store) runListedWrite(ctx context.Context, script *redis.Script, src string, keys []string, args []any, historyID string, pre int64) (*redis.Cmd, prelisted) {
	listed := prelisted{step: -1}
	cmd := evalCmd(ctx, "evalsha", script.Hash(), keys, args)
	if pre < 0 {
		_ = s.c.Process(ctx, noRetry{cmd})
	} else {
		listed = s.prelist(ctx, noRetry{cmd}, historyID, pre)
	}
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd = evalCmd(ctx, "eval", src, keys, args)
		_ = s.c.Process(ctx, noRetry{cmd})
	}
	return cmd, listed
}

// evalCmd is the command Script.Run would send, built here to be wrapped.
func evalCmd(ctx context.Context, name, payload string, keys []string, args []any) *redis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, name, payload, len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	cmd := redis.NewCmd(ctx, append(a, args...)...)
	cmd.SetFirstKeyPos(3)
	return cmd
}

// translateWrite is translate for a write script, which also says whether
// the script may have run (driver.Store.Write): an error of a write that may
// have been stored wraps chatstore.ErrOutcomeUnknown as well as
// ErrUnavailable; one of a write that certainly stored nothing does not.
// Each case says why it is classified as it is.
func translateWrite(err error) error {
	if err == nil {
		return nil
	}
	var (
		rerr redis.Error
		oerr *net.OpError
	)
	var uerr *upgradeError
	switch {
	case errors.As(err, &uerr):
		// Upgrading the history failed, before the write was sent.
		return translate(err)
	case errors.As(err, &rerr):
		// Redis answered with an error. The refusals translate marks
		// unavailable (LOADING, CLUSTERDOWN, READONLY, …) come before a
		// script runs, so they stored nothing.
		return translate(err)
	case errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted), errors.Is(err, redis.ErrClosed):
		// No connection was had (none free in time, the pool at its
		// limit, the client closed): nothing was sent.
		return translate(err)
	case errors.As(err, &oerr) && oerr.Op == "dial":
		// The connection could not be made (refused, unreachable, dial
		// timeout, even one that wraps the context's deadline): nothing
		// was sent.
		return translate(err)
	case errors.As(err, &oerr) && oerr.Op == "write":
		// Sending failed: the socket did not take the command's last
		// bytes, and Redis runs a command only once it has all of it.
		return translate(err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// go-redis reports the context's end itself only while it waits
		// for a connection, before sending, and does not apply it to
		// reads and writes (ContextTimeoutEnabled off, the default), but
		// a caller's client may have it on, or a hook that reports it
		// later. The error does not say when: unknown.
		return fmt.Errorf("%w: %w: %w", chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable, err)
	}
	t := translate(err)
	if errors.Is(t, chatstore.ErrUnavailable) {
		// Anything else that means Redis is unreachable (the reply not
		// read: a read error or timeout, EOF, a reset connection) may
		// have come after Redis ran the script. Some of these errors come
		// from setting up a new connection, before the script was sent,
		// and are unknown too: go-redis does not tell them apart.
		return fmt.Errorf("%w: %w", chatstore.ErrOutcomeUnknown, t)
	}
	return t
}

// Tail implements driver.Tailer: one round trip (tail.go), reading the
// newest messages, or, for a tail longer than those, two, the second the
// tail script's.
func (s *Store) Tail(ctx context.Context, historyID string, rounds int) ([]driver.Message, error) {
	msgs, _, err := s.tail(ctx, historyID, rounds, false, false)
	return msgs, err
}

// TailUncompacted implements driver.CompactionTailer: Tail, which answers
// that the history holds compaction records instead when it does, and
// reads no times or costs for a span.Bare read (fastTail). maxBytes
// bounds nothing: Redis sends the tail whole, and the store checks its
// size.
func (s *Store) TailUncompacted(ctx context.Context, historyID string, span driver.Span, _ int) ([]driver.Message, bool, error) {
	return s.tail(ctx, historyID, span.Rounds, true, span.Bare)
}

// Range implements driver.Store: one script, reading only the range.
func (s *Store) Range(ctx context.Context, historyID string, from, to int) ([]driver.Message, error) {
	msgs, _, err := s.readMessages(ctx, "range", historyID, rangeScript, from, to)
	return msgs, err
}

// readMessages runs a read script (readHead in scripts.go), which answers
// as emit does (or, the tail script, that the history is compacted), with
// args and the counter.
func (s *Store) readMessages(ctx context.Context, op, historyID string, script *redis.Script, args ...any) (msgs []driver.Message, compacted bool, err error) {
	var res []string
	args = append(args, s.counter)
	err = s.upgraded(ctx, historyID, func() (err error) {
		res, err = script.Run(ctx, s.c, s.keys(historyID)[:nHistoryKeys], args...).StringSlice()
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: %s %q: %w", op, historyID, translate(err))
	}
	if len(res) == 1 && res[0] == compactedAnswer {
		return nil, true, nil
	}
	msgs, ok := decodeTail(res)
	if !ok {
		return nil, false, fmt.Errorf("redisstore: %s %q: %w: the script's answer is malformed", op, historyID, chatstore.ErrIncompatibleSchema)
	}
	return msgs, false, nil
}

// decodeTail reads the answer of a read script (emit in scripts.go): the
// messages of positions S to E, less tombstones and the positions the
// header lists, with their times and costs.
func decodeTail(res []string) ([]driver.Message, bool) {
	if len(res) < 2 {
		return nil, false
	}
	head := strings.Fields(res[0])
	if len(head) < 3 {
		return nil, false
	}
	var nums [3]int64
	for i := range nums {
		v, err := strconv.ParseInt(head[i], 10, 64)
		if err != nil || v < 0 {
			return nil, false
		}
		nums[i] = v
	}
	start, xp, end := nums[0], nums[1], nums[2]
	if end == 0 {
		return nil, true
	}
	var drop []int64 // a few system messages at most
	for _, f := range head[3:] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, false
		}
		drop = append(drop, v)
	}
	n := end - start
	kinds := res[1]
	if n < 0 || int64(len(res)) < 3+2*n || int64(len(kinds)) != n {
		return nil, false
	}
	vals, times, costs, ids := res[2:2+n], res[2+n:2+2*n], res[2+2*n], res[3+2*n:]
	if int64(len(costs)) != costSize*n {
		return nil, false
	}
	dbase := max(xp, start)
	if xp < end && int64(len(ids)) != end-dbase {
		return nil, false
	}
	out := make([]driver.Message, 0, n-int64(len(drop)))
	for i, v := range vals {
		p := start + int64(i)
		if kinds[i] == tombstone || slices.Contains(drop, p) {
			continue
		}
		var id string
		if p < xp {
			id = strconv.FormatInt(p, 10)
		} else {
			id = ids[p-dbase]
		}
		kind := driver.Kind(kinds[i] - '0')
		if kind > driver.Alone {
			return nil, false
		}
		at, err := strconv.ParseInt(times[i], 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, driver.Message{ID: id, JSON: []byte(v), Pos: p, Kind: kind, CreatedAt: at, Cost: costAt(costs, i)})
	}
	return out, true
}

// tombstone is the kind of a deleted message (scripts.go).
const tombstone = 'x'

// upgraded runs op, a script on one history, and, if the history is in
// layout 1 (see scripts.go), upgrades it and runs op again: scripts refuse
// such a history before they change anything. A few tries, in case a
// process of an earlier chatstore writes to it meanwhile.
func (s *Store) upgraded(ctx context.Context, historyID string, op func() error) error {
	for range 3 {
		err := op()
		if !redis.HasErrorPrefix(err, upgradeNeeded) {
			return err
		}
		if err := s.upgrade(ctx, historyID); err != nil {
			return &upgradeError{err}
		}
	}
	return fmt.Errorf("%w: the history's layout is still being written by an earlier chatstore", chatstore.ErrUnavailable)
}

// upgrade rewrites a history of an earlier layout to the current one: a
// layout-1 history to layout 2 (upgrade1), then a layout-2 history to
// layout 3 inside Redis (upgrade3Script), then measures its messages if
// their costs are not of the store's counter (measureHistory).
func (s *Store) upgrade(ctx context.Context, historyID string) error {
	k := s.keys(historyID)
	layout1, err := s.c.HExists(ctx, k[kS], "r").Result()
	if err != nil {
		return translate(err)
	}
	if layout1 {
		if err := s.upgrade1(ctx, historyID); err != nil {
			return err
		}
	}
	if err := upgrade3Script.Run(ctx, s.c, []string{k[kS], k[kM], k[kC], k[kD], k[kI]}).Err(); err != nil {
		return translate(err)
	}
	return s.measureHistory(ctx, historyID)
}

// upgrade1 rewrites a layout-1 history to layout 2: it reads the messages,
// gives each its kind as chatstore.Store would give it when writing it now,
// and stores the kinds in place of the round bookkeeping, if the history
// has not changed meanwhile (upgradeScript).
func (s *Store) upgrade1(ctx context.Context, historyID string) error {
	k := s.keys(historyID)
	var (
		count *redis.StringCmd
		msgs  *redis.StringSliceCmd
	)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		count = p.HGet(ctx, k[0], "c")
		msgs = p.LRange(ctx, k[1], 0, -1)
		return nil
	})
	if err != nil {
		return translate(err)
	}
	n, err := count.Int64()
	if err != nil || n != int64(len(msgs.Val())) {
		return fmt.Errorf("%w: a history of %d messages in a list of %d cannot be upgraded: %v", chatstore.ErrIncompatibleSchema, n, len(msgs.Val()), err)
	}
	kinds := make([]byte, n)
	for i, body := range msgs.Val() {
		m, err := chat.Unmarshal([]byte(body))
		if err != nil {
			return fmt.Errorf("%w: stored message %d cannot be read to upgrade the history: %w", chatstore.ErrIncompatibleSchema, i, err)
		}
		kinds[i] = '0' + byte(chatstore.Classify(m))
	}
	return translate(upgradeScript.Run(ctx, s.c, []string{k[kS], k[kT], k[kR]}, n, kinds).Err())
}

// upgradeError is an error of upgrading a history, which happens before the
// operation that needed it is sent.
type upgradeError struct{ err error }

func (e *upgradeError) Error() string { return "upgrading the history's layout: " + e.err.Error() }
func (e *upgradeError) Unwrap() error { return e.err }

// Delete removes a history's keys and its idempotency keys (one script),
// then its index entries, then puts them back if a write recreated the
// history meanwhile.
func (s *Store) Delete(ctx context.Context, historyID string) error {
	pairs, err := deleteScript.Run(ctx, s.c, s.keys(historyID)[:kU]).StringSlice()
	if err == nil {
		_, err = s.unlist(ctx, []string{historyID}, pairMap(pairs))
	}
	if err != nil {
		return fmt.Errorf("redisstore: delete %q: %w", historyID, translate(err))
	}
	return nil
}

// pairsOf is the set of the metadata pairs' sets (pairKey) that list a
// history, PREFIX}p:ID: what takes it out of them once its keys are gone
// (expired) and its metadata with them. It changes with the sets, in the
// same pipelines, and is deleted when the history is unlisted.
func (s *Store) pairsOf(id string) string { return s.prefix + "}p:" + id }

// unlist removes histories from the indexes: the listing, recency, and the
// sets of their metadata pairs (of meta, for a single history, and those
// pairsOf names), and then lists any that exists (again) as it is now
// (relist). On a cluster the second pipeline also runs markSrc for each,
// which marks the history for the writes that add it beside their scripts
// and says whether it exists.
// It answers how many it took out of the listing. Two pipelines, then
// relist's.
func (s *Store) unlist(ctx context.Context, ids []string, meta map[string]string) (int64, error) {
	named := make([]*redis.StringSliceCmd, len(ids))
	unlisted := make([]*redis.IntCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			named[i] = p.SMembers(ctx, s.pairsOf(id))
			unlisted[i] = p.ZRem(ctx, s.index, id)
			p.ZRem(ctx, s.updated, id)
			for k, v := range meta {
				p.SRem(ctx, s.pairKey(k, v), id)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var n int64
	marks := make([]*redis.Cmd, len(ids))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			n += unlisted[i].Val()
			for _, set := range named[i].Val() {
				p.SRem(ctx, set, id)
			}
			p.Unlink(ctx, s.pairsOf(id))
			if !s.single {
				k := s.keys(id)
				marks[i] = p.Eval(ctx, markSrc, []string{k[kS], k[kU]}, markLife.Milliseconds())
			}
		}
		return nil
	})
	if err != nil {
		// Some may exist, and their marks' answers be lost: relist
		// every one that does (relist reads them again).
		return n, cmp.Or(s.relist(ctx, ids...), err)
	}
	if !s.single {
		var exist []string
		for i, id := range ids {
			if v, _ := marks[i].Int(); v == 1 {
				exist = append(exist, id)
			}
		}
		ids = exist
	}
	return n, s.relist(ctx, ids...)
}

// markLife is how long a removal's mark lasts (markSrc): far longer than a
// write's pipeline is in flight before it answers, whatever its outcome.
const markLife = time.Minute

// relist puts the histories of ids that exist in every index, as they are
// now; on a cluster at the end of their step of the recency index, as list
// does, so that a same-step write, which leaves the index alone, never
// stands after the entry (a write that wiped an expired history, for one,
// is listed, then unlisted and relisted: listWritten).
func (s *Store) relist(ctx context.Context, ids ...string) error {
	infos, err := s.infos(ctx, ids, false)
	if err != nil || len(infos) == 0 {
		return err
	}
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, info := range infos {
			s.listIn(ctx, p, info.ID, info.UpdatedAt)
			for k, v := range info.Metadata {
				s.addPair(ctx, p, info.ID, s.pairKey(k, v))
			}
		}
		return nil
	})
	return err
}

// addPair and removePair add a history to the set of a metadata pair, and
// take it out, with pairsOf following.
func (s *Store) addPair(ctx context.Context, p redis.Pipeliner, id, set string) {
	p.SAdd(ctx, set, id)
	p.SAdd(ctx, s.pairsOf(id), set)
}

func (s *Store) removePair(ctx context.Context, p redis.Pipeliner, id, set string) {
	p.SRem(ctx, set, id)
	p.SRem(ctx, s.pairsOf(id), set)
}

// DeleteAll deletes the store's keys: the keys of its histories, found on
// every master of a cluster with SCAN PREFIX{* (never KEYS, never FLUSHDB),
// and the listing. Another store's keys never match: see
// Options.KeyPrefix.
func (s *Store) DeleteAll(ctx context.Context) error {
	del := func(ctx context.Context, c redis.Cmdable) error {
		for _, pattern := range []string{globEscape(s.prefix) + "{*", globEscape(s.prefix) + "}*"} {
			if err := s.deleteMatching(ctx, c, pattern); err != nil {
				return err
			}
		}
		return nil
	}
	err := s.forEachNode(ctx, del)
	if err == nil {
		err = s.c.Unlink(ctx, s.index).Err()
	}
	if err != nil {
		return fmt.Errorf("redisstore: delete all: %w", translate(err))
	}
	return nil
}

// deleteMatching unlinks the keys of one node that match pattern.
func (s *Store) deleteMatching(ctx context.Context, c redis.Cmdable, pattern string) error {
	return scan(ctx, c, pattern, func(keys []string) error {
		// One key per command: on a cluster, the keys of a batch are in
		// different slots.
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
			return nil
		})
		return err
	})
}

// forEachNode runs f on every master of a cluster, at once, or on the one
// node.
func (s *Store) forEachNode(ctx context.Context, f func(ctx context.Context, c redis.Cmdable) error) error {
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return f(ctx, c) })
	}
	return f(ctx, s.c)
}

// scan calls f with the keys of node c that match pattern, found with SCAN
// (never KEYS), up to 1000 at a time.
func scan(ctx context.Context, c redis.Cmdable, pattern string, f func(keys []string) error) error {
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := f(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil || len(batch) == 0 {
		return err
	}
	return f(batch)
}

// globEscape escapes every byte that is special in a SCAN MATCH pattern, so
// that the pattern matches s itself and nothing else.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// List reads ids from the index in byte order (ZRANGE BYLEX) and their
// counts in one pipeline. Entries whose history has expired or was deleted
// meanwhile are dropped from the index as they are met.
func (s *Store) List(ctx context.Context, after string, limit int) ([]driver.History, error) {
	out := make([]driver.History, 0, limit)
	start := "-"
	if after != "" {
		start = "(" + after
	}
	for len(out) < limit {
		want := limit - len(out)
		ids, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.index, Start: start, Stop: "+", ByLex: true, Count: int64(want)}).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: list: %w", translate(err))
		}
		if len(ids) == 0 {
			break
		}
		infos, err := s.infos(ctx, ids, true)
		if err != nil {
			return nil, fmt.Errorf("redisstore: list: %w", translate(err))
		}
		for _, info := range infos {
			out = append(out, driver.History{ID: info.ID, Count: info.Count})
		}
		if len(ids) < want {
			break
		}
		start = "(" + ids[len(ids)-1]
	}
	return out, nil
}
