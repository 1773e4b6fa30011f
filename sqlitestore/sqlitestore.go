// Package sqlitestore is the embedded, durable chatstore backend: one SQLite
// file, through the pure-Go modernc.org/sqlite driver (no cgo). It is
// registered as "sqlite://".
//
//	sqlite:///var/lib/chatstore/chat.db   an absolute path
//	sqlite:chat.db                        a path relative to the working directory
//
// URL parameters (besides the store-wide skip_system_messages and last_k):
//
//	synchronous=normal|full   normal (the default) keeps every acknowledged
//	                          write through a crash of the process (kill -9);
//	                          full also through a power loss or OS crash, at
//	                          the cost of an fsync at every commit.
//	busy_timeout=5s           how long to wait for another process's lock.
//	search=false              keep no full-text index (see below).
//	tokenizer=approx          the counter of token budgets: approx (the
//	                          default), o200k_base or cl100k_base (see below).
//	secure_delete=false       leave deleted content in the file's free space
//	                          (see below); by default SQLite overwrites it.
//
// The file is in WAL mode, so readers never wait for writers. Concurrent
// writes from one process are grouped into shared transactions (group commit):
// one commit, and with synchronous=full one fsync, serves every write waiting
// at that moment, and each Write still returns only after its transaction is
// committed. Several processes may use the file at once; SQLite's locking
// serializes their transactions.
//
// Search (driver.Searcher) uses an FTS5 index of every message's words,
// kept up to date after small writes rather than in them (search.go,
// index.go): a write of fewer than 32 messages records in its transaction
// that its history has messages to index, and indexing adds them in
// batches, in the background and before every search, which so sees every
// write acknowledged before it began; larger writes index theirs in their
// own transaction. A removal takes a message's words out of the index in
// its own transaction. The index takes about three quarters of the size of
// the messages' text on disk. A store that never searches can be opened
// with search=false: the
// file then keeps no index (opening drops one it has), and Search fails
// with chatstore.ErrNotSupported. Opening a file that has no index with
// search on builds it from the stored messages, as upgrading a file from
// before the index does (about 50,000 messages a second, holding the write
// lock), with progress in the log (Options.Logger, or slog's default).
// Every process that opens one file must use the same setting: a store
// notices when another process changed it, and its writes then fail until
// it is reopened.
//
// Token budgets (driver.Coster, driver.Compactor): each message row holds
// its cost, measured when it is written, and each history row the sum, kept
// in the transaction of every change; compaction records have a table of
// their own. The costs are of one tokenizer (the store-wide tokenizer=,
// Options.Tokenizer), whose name the file records. Opening a file whose
// costs are of another tokenizer, or upgrading one from before costs were
// kept, measures every message again, decoding each (100,000 messages took
// 2 to 4 seconds with approx, 9 to 16 with tiktoken's encodings on a shared
// 2-core machine), in the transaction of the migration: it holds the write
// lock meanwhile (other processes wait for it, up to busy_timeout), logs its
// progress, and if interrupted leaves the file as it was, for the next Open
// to do again. Every process that opens one file must use the same
// tokenizer: a store notices when another process measured the file again
// with another, and its writes then fail until it is reopened.
//
// Expiry (driver.Expirer): each history row holds the time it expires,
// worked out at each change and written with the rest of its bookkeeping;
// every read compares it with the time in the statement that looks the
// history up, and Sweep deletes expired histories, found through an index
// of expiry times, in a transaction of the commit loop. Every connection
// sets SQLite's secure_delete, so that what a deletion removes (an erased,
// deleted or expired history) is overwritten with zeros rather than left in
// the file's free space; a deletion then writes more, the pages it frees.
// The search index keeps the words of deleted messages until its segments
// are merged, and the WAL keeps older copies of pages until it is
// checkpointed: docs/STORE.md ("Expiry on SQLite") says what an operator
// does about them.
package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

func init() {
	chatstore.Register("sqlite", open)
}

// Options configure a Store. A nil *Options means the defaults.
type Options struct {
	// Synchronous is SQLite's synchronous setting in WAL mode: "normal"
	// (the default; durable through a crash of the process) or "full"
	// (also through a power loss, with an fsync at every commit).
	Synchronous string
	// BusyTimeout is how long a statement waits for a lock another process
	// holds before failing. Zero means 5 seconds.
	BusyTimeout time.Duration
	// NoSearch: keep no full-text index, sparing its cost to every write;
	// Search then fails with ErrNotSupported. The file's index, if it has
	// one, is dropped on opening.
	NoSearch bool
	// Tokenizer names the counter of the messages' costs for token
	// budgets (driver.Coster), as chatstore.Options.Tokenizer names it;
	// "" means chatstore.TokenizerApprox. Opening a file whose costs are
	// of another counter, or from before costs were kept, measures every
	// message again (see the package doc).
	Tokenizer string
	// NoSecureDelete turns SQLite's secure_delete off: by default every
	// connection sets it on, so that SQLite overwrites what a deletion
	// removes (an erased or expired history, a deleted message) with zeros
	// instead of leaving it in free space of the file. Deletions then
	// write more (see the package doc).
	NoSecureDelete bool
	// Logger receives the progress of building the search index when
	// opening a file that has none, and of measuring its messages again;
	// nil means slog.Default().
	Logger *slog.Logger

	// For tests, the background indexing's settings (index.go); zero for
	// the defaults.
	indexBatch int
	indexAfter int64
	indexEvery time.Duration
	afterIndex func(error) // called after each background round, with its error
}

// open is chatstore.Open's: search=false and tokenizer= are store-wide
// parameters there, which it has taken out of the URL into co.
func open(ctx context.Context, u *url.URL, co *chatstore.Options) (driver.Store, error) {
	path, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	if co != nil {
		opts.NoSearch, opts.Tokenizer = co.NoSearch, co.Tokenizer
	}
	return Open(ctx, path, opts)
}

// ParseURL returns the file path and the options of a sqlite URL (as
// chatstore.ParseURL returns it), read as chatstore.Open reads it.
func ParseURL(u *url.URL) (string, *Options, error) {
	path, err := pathOf(u)
	if err != nil {
		return "", nil, err
	}
	var opts Options
	for key, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch key {
		case "synchronous":
			opts.Synchronous = v
		case "busy_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return "", nil, fmt.Errorf("sqlitestore: %w: busy_timeout=%q: want a duration such as 5s", chatstore.ErrInvalidOptions, v)
			}
			opts.BusyTimeout = d
		case "secure_delete":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return "", nil, fmt.Errorf("sqlitestore: %w: secure_delete=%q: want true or false", chatstore.ErrInvalidOptions, v)
			}
			opts.NoSecureDelete = !on
		default:
			return "", nil, fmt.Errorf("sqlitestore: %w: unknown URL parameter %q (known: synchronous, busy_timeout, secure_delete, and the store-wide skip_system_messages, last_k, search, tokenizer, ttl)", chatstore.ErrInvalidOptions, key)
		}
	}
	return path, &opts, nil
}

// pathOf returns the file path of a sqlite URL.
func pathOf(u *url.URL) (string, error) {
	var path string
	switch {
	case u.Opaque != "":
		path = u.Opaque // sqlite:relative/path.db
	case u.Host != "":
		return "", fmt.Errorf("sqlitestore: %w: %q names a host; write sqlite:%s for a path relative to the working directory, or sqlite:///absolute/path", chatstore.ErrInvalidOptions, u.Redacted(), u.Host+u.Path)
	default:
		path = u.Path // sqlite:///absolute/path.db
	}
	if path == "" || path == "/" {
		return "", fmt.Errorf("sqlitestore: %w: the URL names no file; write sqlite:///path/to/chat.db or sqlite:chat.db", chatstore.ErrInvalidOptions)
	}
	if strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("sqlitestore: %w: the file path %q contains '?' or '#'", chatstore.ErrInvalidOptions, path)
	}
	return filepath.FromSlash(path), nil
}

// Store is a SQLite driver.
type Store struct {
	path    string
	readers *sql.DB // pool for reads, in deferred read transactions
	writer  *sql.DB // one connection, used only by the group-commit loop
	stmts   *stmts
	// indexing: the file has a search index, which writes keep (not
	// Options.NoSearch).
	indexing bool
	// counter is the tokenizer of the costs the store writes and the
	// file holds (Options.Tokenizer).
	counter string
	// policy gives the clock and default TTLs of expiry (driver.Expirer).
	policy driver.Policy

	// txMu is held while a transaction runs on the writer connection, by
	// the commit loop or by a caller taking the fast path; it guards the
	// cache too.
	txMu        sync.Mutex
	cache       map[string]histRow
	dataVersion int64

	queryMu sync.Mutex
	queries map[string]*sql.Stmt // Query's statements (queryStmt)

	// life is the context of the commit loop's transactions: Open's,
	// without its cancellation. A transaction serves every request of its
	// group, so no one caller's context may end it; each request's own
	// context is checked before the request is applied.
	life    context.Context
	queue   chan *request
	stop    chan struct{}
	stopped chan struct{}

	// The background indexing of search (indexLoop): toIndex counts the
	// messages written since it last ran, and indexWake wakes it.
	toIndex      atomic.Int64
	indexBatch   int
	indexAfter   int64
	indexEvery   time.Duration
	indexWake    chan struct{}
	indexStopped chan struct{}
	afterIndex   func(error) // Options.afterIndex
	log          *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.Pinger        = (*Store)(nil)
	_ driver.Tailer        = (*Store)(nil)
	_ driver.PrefixDeleter = (*Store)(nil)
	_ driver.KeyedWriter   = (*Store)(nil)
	_ driver.BoundedReader = (*Store)(nil)
	_ driver.Editor        = (*Store)(nil)
)

// Open opens (creating it if needed) the database file at path, creating or
// migrating its schema. The Store owns the file handles; Close closes them.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dsn := func(txlock string) string { return o.dsn(path, txlock) }
	writer, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: opening %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	o.Logger = o.Logger.With("path", path)
	if err := retryBusy(ctx, o.BusyTimeout, func() error { return migrate(ctx, writer, schemaVersion, o) }); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlitestore: %s: %w", path, explainCantOpen(path, err))
	}
	readers, err := sql.Open("sqlite", dsn("deferred"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlitestore: opening %s: %w", path, err)
	}
	readers.SetMaxOpenConns(16)
	readers.SetMaxIdleConns(16)
	var st *stmts
	err = retryBusy(ctx, o.BusyTimeout, func() error {
		var err error
		st, err = prepare(ctx, writer, readers, !o.NoSearch)
		return err
	})
	if err != nil {
		writer.Close()
		readers.Close()
		return nil, fmt.Errorf("sqlitestore: %s: %w", path, err)
	}
	// What the file holds unindexed (of a process that stopped before
	// indexing its writes) is this process's to index too.
	var unindexed bool
	if !o.NoSearch {
		if err := st.anyUnindexed.QueryRowContext(ctx).Scan(&unindexed); err != nil {
			st.close()
			writer.Close()
			readers.Close()
			return nil, fmt.Errorf("sqlitestore: %s: %w", path, err)
		}
	}
	s := &Store{
		stmts:    st,
		indexing: !o.NoSearch,
		counter:  o.Tokenizer,
		cache:    map[string]histRow{},
		queries:  map[string]*sql.Stmt{},
		path:     path,
		readers:  readers,
		writer:   writer,
		life:     context.WithoutCancel(ctx),
		queue:    make(chan *request, 1024),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),

		indexBatch:   o.indexBatch,
		indexAfter:   o.indexAfter,
		indexEvery:   o.indexEvery,
		afterIndex:   o.afterIndex,
		indexWake:    make(chan struct{}, 1),
		indexStopped: make(chan struct{}),
		log:          o.Logger,
	}
	go s.commitLoop()
	if s.indexing {
		if unindexed {
			s.toIndex.Store(1)
		}
		go s.indexLoop()
	} else {
		close(s.indexStopped)
	}
	return s, nil
}

func (opts *Options) withDefaults() (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch strings.ToLower(o.Synchronous) {
	case "", "normal":
		o.Synchronous = "NORMAL"
	case "full":
		o.Synchronous = "FULL"
	default:
		return o, fmt.Errorf("sqlitestore: %w: synchronous=%q: want normal or full", chatstore.ErrInvalidOptions, o.Synchronous)
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.indexBatch = cmp.Or(o.indexBatch, indexBatch)
	o.indexAfter = cmp.Or(o.indexAfter, indexAfter)
	o.indexEvery = cmp.Or(o.indexEvery, indexEvery)
	m, err := chatstore.NewMeter(o.Tokenizer) // ErrInvalidOptions, saying so
	if err != nil {
		return o, err
	}
	o.Tokenizer = m.Name()
	return o, nil
}

// dsn is the data source name of path with o's settings (filled in by
// withDefaults); txlock is "immediate" for the writer, "deferred" for readers.
func (o Options) dsn(path, txlock string) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(o.BusyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", o.Synchronous)
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", txlock)
	// On every connection: the setting is a connection's, not the file's.
	q.Set("_pragma", "secure_delete("+strconv.FormatBool(!o.NoSecureDelete)+")")
	return path + "?" + q.Encode()
}

// DSN returns the modernc.org/sqlite data source name (for sql.Open with
// driver "sqlite") with which a Store opens path: WAL, opts' synchronous
// setting and busy timeout (defaults as in Open), and BEGIN IMMEDIATE
// transactions when immediate is true (the Store's writer) or deferred ones
// (its readers). chatstore bench --raw opens the file the same way.
func DSN(path string, opts *Options, immediate bool) (string, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return "", err
	}
	txlock := "deferred"
	if immediate {
		txlock = "immediate"
	}
	return o.dsn(path, txlock), nil
}

// explainCantOpen says why SQLite could not open the file when the reason is
// a missing directory: SQLite creates the file but not its directory, and
// says only "unable to open database file". The directory is checked only
// after SQLite failed, so a path SQLite accepts is never refused.
func explainCantOpen(path string, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_CANTOPEN {
		return err
	}
	dir := filepath.Dir(filepath.Clean(path)) // SQLite resolves "a/../b" by name too
	if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
		return err
	}
	return fmt.Errorf("the directory %s does not exist; create it, or choose a file in an existing directory (%w)", dir, err)
}

// retryBusy runs fn until it does not fail with SQLITE_BUSY, for up to
// timeout. Opening needs it: when several processes open a new file at once,
// switching it to WAL takes an exclusive lock, and SQLite reports busy there
// at once instead of calling its busy handler.
func retryBusy(ctx context.Context, timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		err := fn()
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Close stops the group-commit loop after the writes it holds, and closes
// the database handles the Store opened.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.stopped
		<-s.indexStopped
		s.txMu.Lock() // wait for a fast-path transaction to finish
		defer s.txMu.Unlock()
		s.stmts.close()
		s.queryMu.Lock()
		for _, st := range s.queries {
			st.Close()
		}
		s.queryMu.Unlock()
		s.closeErr = errors.Join(s.writer.Close(), s.readers.Close())
	})
	return s.closeErr
}

// Ping implements driver.Pinger.
func (s *Store) Ping(ctx context.Context) error {
	return s.wrap("ping", "", s.readers.PingContext(ctx))
}

// wrap translates an error at the package boundary: busy and I/O failures
// become chatstore.ErrUnavailable, keeping the SQLite error for errors.As;
// context errors stay as they are.
func (s *Store) wrap(op, history string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, chatstore.ErrClosed) {
		return fmt.Errorf("sqlitestore: %s: %w", op, err)
	}
	where := op
	if history != "" {
		where = fmt.Sprintf("%s %q", op, history)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL:
			return fmt.Errorf("sqlitestore: %s: %w: %w", where, chatstore.ErrUnavailable, err)
		}
	}
	if errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("sqlitestore: %s: %w: %w", where, chatstore.ErrClosed, err)
	}
	return fmt.Errorf("sqlitestore: %s: %w", where, err)
}

// Count implements driver.Store.
func (s *Store) Count(ctx context.Context, historyID string) (int64, error) {
	var n int64
	err := s.stmts.count.QueryRowContext(ctx, historyID, s.policy.Now()).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, s.wrap("count", historyID, err)
}

// Tail implements driver.Tailer, with one statement (see tailSQL).
func (s *Store) Tail(ctx context.Context, historyID string, rounds int) ([]driver.Message, error) {
	return s.ReadBounded(ctx, historyID, driver.Span{Rounds: rounds}, 0)
}

// Range implements driver.Store.
func (s *Store) Range(ctx context.Context, historyID string, from, to int) ([]driver.Message, error) {
	return s.ReadBounded(ctx, historyID, driver.Span{From: int64(from), Limit: to - from}, 0)
}

// ReadBounded implements driver.BoundedReader: rows are read one at a
// time, so a read over its limit stops at the row that crosses it. A
// maxBytes of 0 is no limit.
func (s *Store) ReadBounded(ctx context.Context, historyID string, span driver.Span, maxBytes int) ([]driver.Message, error) {
	if span.Rounds > 0 {
		out, _, err := s.tail(ctx, s.stmts.tail, historyID, span.Rounds, maxBytes, false)
		return out, err
	}
	var (
		rows *sql.Rows
		err  error
	)
	if span.Backward() {
		rows, err = s.stmts.before.QueryContext(ctx, historyID, s.policy.Now(), span.Before, span.Limit)
	} else {
		rows, err = s.stmts.rangeQ.QueryContext(ctx, historyID, s.policy.Now(), span.From, span.Limit, span.Skip)
	}
	if err != nil {
		return nil, s.wrap("range", historyID, err)
	}
	defer rows.Close()
	out := make([]driver.Message, 0, min(span.Limit, 256))
	size := 0
	next := scanRows(rows)
	for {
		m, ok, err := next()
		if err != nil {
			return nil, s.wrap("range", historyID, err)
		}
		if !ok {
			if span.Backward() {
				slices.Reverse(out)
			}
			return out, nil
		}
		if size += len(m.JSON); maxBytes > 0 && size > maxBytes {
			return nil, driver.ErrTooLarge
		}
		out = append(out, m)
	}
}

// tail reads the last rounds of a history with stmt (tailSQL, or
// tailUncompactedSQL or tailBareSQL, which give first a row at position
// compactedMark when the history has compaction records: then compacted is
// true, and nothing more is read). bare says stmt reads bareColumns.
func (s *Store) tail(ctx context.Context, stmt *sql.Stmt, historyID string, rounds, maxBytes int, bare bool) (msgs []driver.Message, compacted bool, err error) {
	rows, err := stmt.QueryContext(ctx, historyID, s.policy.Now())
	if err != nil {
		return nil, false, s.wrap("retrieve", historyID, err)
	}
	defer rows.Close()
	next := scan(rows, &messageRow{bare: bare})
	first, ok, err := next()
	switch {
	case err != nil:
		return nil, false, s.wrap("retrieve", historyID, err)
	case ok && first.Pos == math.MaxInt64:
		return nil, true, nil
	}
	msgs, err = driver.LastRounds(rounds, maxBytes, func() (driver.Message, bool, error) {
		if ok {
			ok = false
			return first, true, nil
		}
		return next()
	})
	return msgs, false, s.wrap("retrieve", historyID, err)
}

// scanRows reads rows of messageColumns, one a call, ending with
// rows.Err().
func scanRows(rows *sql.Rows) driver.Next { return scan(rows, &messageRow{}) }

// scan reads rows into c, one a call, ending with rows.Err(). The scan
// targets are c's, allocated once, not once a row.
func scan(rows *sql.Rows, c *messageRow) driver.Next {
	dest := c.targets()
	return func() (driver.Message, bool, error) {
		if !rows.Next() {
			return driver.Message{}, false, rows.Err()
		}
		if err := rows.Scan(dest...); err != nil {
			return driver.Message{}, false, err
		}
		if c.bare {
			m, err := c.bareMessage()
			return m, err == nil, err
		}
		return c.message(), true, nil
	}
}

// messageRow holds the scan targets of messageColumns, or of bareColumns
// if bare.
type messageRow struct {
	bare                 bool
	pos, created, packed int64
	id                   sql.NullString // not RawBytes: it reads '' as NULL
	kindID               any            // bareColumns' second
	body                 []byte
	dest                 [5]any
}

func (c *messageRow) targets() []any {
	if c.bare {
		c.dest = [5]any{&c.pos, &c.kindID, &c.body}
		return c.dest[:3]
	}
	c.dest = [5]any{&c.pos, &c.id, &c.body, &c.created, &c.packed}
	return c.dest[:]
}

// message is the row of messageColumns scanned last, unpacked. Its body is
// its own: the next row gets a slice of its own.
func (c *messageRow) message() driver.Message {
	m := driver.Message{
		Pos: c.pos, JSON: c.body, CreatedAt: c.created, Kind: driver.Kind(c.packed & 3),
		Cost: driver.Cost{Text: c.packed >> 33, Flat: c.packed >> 2 & (1<<31 - 1)},
	}
	c.body = nil
	if m.ID = c.id.String; !c.id.Valid {
		m.ID = strconv.FormatInt(m.Pos, 10)
	}
	return m
}

// bareMessage is the row of bareColumns scanned last, as message is for
// messageColumns.
func (c *messageRow) bareMessage() (driver.Message, error) {
	m := driver.Message{Pos: c.pos, JSON: c.body}
	c.body = nil
	switch v := c.kindID.(type) {
	case int64: // the kind; the id is the position's
		if v < 0 || v > 3 {
			return m, fmt.Errorf("message %d: kind %d", m.Pos, v)
		}
		m.Kind, m.ID = driver.Kind(v), strconv.FormatInt(m.Pos, 10)
	case string: // the kind's digit, then the id
		if v == "" || v[0] < '0' || v[0] > '3' {
			return m, fmt.Errorf("message %d: kind and id %q", m.Pos, v)
		}
		m.Kind, m.ID = driver.Kind(v[0]-'0'), v[1:]
	case nil: // compactedMark's row; kind is NOT NULL in every other
		if m.Pos != math.MaxInt64 {
			return m, fmt.Errorf("message %d: no kind", m.Pos)
		}
	default:
		return m, fmt.Errorf("message %d: kind and id of type %T", m.Pos, v)
	}
	return m, nil
}

// Delete implements driver.Store; the messages and compaction records go
// by ON DELETE CASCADE, and the messages' rows of the search index with them (the trigger
// search_unindex fires for cascaded deletes too).
func (s *Store) Delete(ctx context.Context, historyID string) error {
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		t.forget(historyID)
		_, err := t.stmt(s.stmts.deleteHistory).ExecContext(t.ctx, historyID)
		return err
	}})
	return s.wrap("delete", historyID, err)
}

// DeletePrefix implements driver.PrefixDeleter: one statement, in one
// transaction of the commit loop; the messages and compaction records go by
// ON DELETE CASCADE.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		t.forgetEverything() // simpler than finding which; the states are reread
		// The index on name finds the first; substr (in characters, as
		// length counts them) keeps those that start with the prefix.
		_, err := t.tx.ExecContext(t.ctx, "DELETE FROM histories WHERE name >= ?1 AND substr(name, 1, length(?1)) = ?1", prefix)
		return err
	}})
	return s.wrap("delete by prefix", prefix, err)
}

// DeleteAll implements driver.Store.
func (s *Store) DeleteAll(ctx context.Context) error {
	// Through the commit loop, the only connection that writes, so that
	// deletions are ordered with writes.
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		t.forgetEverything()
		if s.indexing {
			// At once, rather than a row at a time by the trigger, which
			// then finds nothing to delete.
			if _, err := t.tx.ExecContext(t.ctx, "INSERT INTO search_index (search_index) VALUES ('delete-all')"); err != nil {
				return err
			}
		}
		_, err := t.tx.ExecContext(t.ctx, "DELETE FROM messages; DELETE FROM idempotency_keys; DELETE FROM metadata; DELETE FROM compactions; DELETE FROM histories")
		return err
	}})
	return s.wrap("delete all", "", err)
}

// List implements driver.Store.
func (s *Store) List(ctx context.Context, after string, limit int) ([]driver.History, error) {
	rows, err := s.stmts.list.QueryContext(ctx, after, s.policy.Now(), limit)
	if err != nil {
		return nil, s.wrap("list", "", err)
	}
	defer rows.Close()
	var out []driver.History
	for rows.Next() {
		var h driver.History
		if err := rows.Scan(&h.ID, &h.Count); err != nil {
			return nil, s.wrap("list", "", err)
		}
		out = append(out, h)
	}
	return out, s.wrap("list", "", rows.Err())
}
