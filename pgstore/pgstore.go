// Package pgstore is the PostgreSQL chatstore backend, registered as
// "postgres://" and "postgresql://", on pgx v5 and its connection pool.
//
//	postgres://user:password@host:5432/db?sslmode=disable&schema=chatstore&search=true&search_config=simple&tokenizer=approx
//
// All tables live in one PostgreSQL schema (schema=..., default "chatstore"),
// so several deployments, or test runs, can share a database without seeing
// each other; DeleteAll touches nothing outside it. The parameters schema,
// search, search_config and tokenizer, and the store-wide
// skip_system_messages and last_k, are chatstore's: they never reach the
// server, to which pgx sends
// the keys it does not know as run-time settings. Every other parameter is
// pgx's. chatstore.Open and Open read a URL the same way (Open also takes
// pgx's key=value form).
//
// Full-text search (driver.Searcher, chatstore.Store.Search) is on unless
// search=false: each message row holds the tsvector of its text and, apart,
// of its reasoning, computed by the statement that writes it, under GIN
// indexes. search=false writes no tsvector, and Search fails with
// chatstore.ErrNotSupported. search_config names the text search
// configuration (default simple, which finds what the other backends find;
// a language's, such as english, stems words and so finds more, and drops
// stop words); a name the database does not know is
// chatstore.ErrInvalidOptions. A store that opens with search indexes the
// messages written without it (before the upgrade, or with search=false).
//
// Token budgets (driver.Coster, driver.Compactor): each message row holds
// its cost, as the store's tokenizer (tokenizer=, Options.Tokenizer,
// default approx) measured it when the message was written, and each
// history's row the sum over its messages, kept by the statement that adds
// or removes messages. The schema records the tokenizer its costs are of.
// A store opened with another, or over a schema of an earlier version
// (which kept no costs), measures every message again before Open or New
// returns: 500 rows a transaction, each body decoded and measured in Go,
// every row rewritten once (roughly 50 to 100 µs a message on a small
// server, and the table's size doubled until vacuum), with progress in the
// log (Options.Logger); servers opening together wait for the one that
// measures. Every server of a schema should count with one tokenizer: one
// still running with another keeps writing costs of its own. Compaction
// records are a table of their own, deleted with their history's row.
//
// Expiry (driver.Expirer): each history's row holds its own expiry and
// the time it expires, worked out again by every statement that changes
// it; every read leaves an expired history out in the statement it runs
// anyway, a change to one starts it anew, and Sweep removes expired
// histories in batches that several processes can take at once (FOR
// UPDATE SKIP LOCKED). docs/STORE.md, "Expiry on PostgreSQL", says what
// it costs and what PostgreSQL keeps of a deleted history.
//
// Messages are stored as JSONB in Haystack's format, so SQL can look inside
// (body->>'role'). A write is one transaction that first locks its history's
// row, so concurrent writers on one history, from any number of processes,
// take turns, while writers on different histories do not wait for each
// other. A keyed write (driver.KeyedWriter) records its idempotency key in
// the same transaction, under the same lock.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

func init() {
	chatstore.Register("postgres", open)
	chatstore.Register("postgresql", open)
}

// DefaultSchema is the PostgreSQL schema used when none is given.
const DefaultSchema = "chatstore"

// Options configure a Store. A nil *Options means the defaults.
type Options struct {
	// Schema is the PostgreSQL schema holding the tables; "" means
	// DefaultSchema. It must be a plain identifier: lowercase letters,
	// digits and underscores, not starting with a digit, at most 63 bytes.
	Schema string
	// NoSearch turns full-text search off (the URL's search=false):
	// writes compute no tsvector, Indexing reports false, and so
	// chatstore.Store.Search fails with chatstore.ErrNotSupported.
	NoSearch bool
	// SearchConfig is the PostgreSQL text search configuration (regconfig)
	// that makes the tsvectors of messages and the tsqueries of Search
	// (the URL's search_config); "" means DefaultSearchConfig. It must
	// exist in the database.
	SearchConfig string
	// Tokenizer names the counter that measures messages for token
	// budgets (driver.Coster), as chatstore.Options.Tokenizer does (the
	// URL's tokenizer=); "" means chatstore.TokenizerApprox. A schema whose
	// costs are of another is measured again when the store opens.
	Tokenizer string
	// Logger receives the progress of measuring the messages whose costs
	// are not the tokenizer's, and of indexing those that were written
	// without the index, when a store opens (after an upgrade, or with
	// another tokenizer); nil means slog.Default().
	Logger *slog.Logger
}

// DefaultSearchConfig is the text search configuration used when none is
// given. "simple" only lowercases, and search.IndexText has folded the
// text already, so its words are search.Tokens' and a query finds what
// search.MatchDoc says it does. Configurations of a language ("english")
// stem words and drop stop words: they find more than that ("refunds"
// for "refund"), and a query of stop words alone finds nothing.
const DefaultSearchConfig = "simple"

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// open is the URL opener chatstore.Open calls: Open, so that a URL means
// the same whichever way it is opened.
// open is chatstore.Open's: search=false and tokenizer= are store-wide
// parameters there, which it has taken out of the URL into opts.
func open(ctx context.Context, u *url.URL, opts *chatstore.Options) (driver.Store, error) {
	var o Options
	if opts != nil {
		o.NoSearch, o.Tokenizer = opts.NoSearch, opts.Tokenizer
	}
	return Open(ctx, u.String(), &o)
}

// Store is a PostgreSQL driver.
type Store struct {
	pool    *pgxpool.Pool
	owned   bool
	schema  string // quoted identifier
	ix      indexing
	counter string // the tokenizer of the costs (driver.Coster)
	log     *slog.Logger
	q       queries

	cacheMu sync.Mutex
	cache   map[string]histState // the histories this process wrote, as it left them
	// existed: the last write to a history not in cache found that it
	// existed, and so the next such write presumes it exists too and
	// locks its row first, rather than presuming it new and sending one
	// statement that creates it (createWrite): a wrong guess costs one
	// round trip.
	existed atomic.Bool

	policy driver.Policy // the Store's clock and default TTLs (driver.Expirer)

	pin bool // whether the server can pin a statement's plan (pinned)
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.Pinger        = (*Store)(nil)
	_ driver.Tailer        = (*Store)(nil)
	_ driver.BoundedReader = (*Store)(nil)
	_ driver.PrefixDeleter = (*Store)(nil)
	_ driver.KeyedWriter   = (*Store)(nil)
	_ driver.Editor        = (*Store)(nil)
	_ driver.Searcher      = (*Store)(nil)
	_ driver.Coster        = (*Store)(nil)
	_ driver.Compactor     = (*Store)(nil)

	_ driver.CompactionTailer = (*Store)(nil)
	_ driver.Expirer          = (*Store)(nil)
)

// Open connects to PostgreSQL with a pool of its own (closed by Close) and
// creates or migrates the schema. connString is a URL as in the package
// documentation or pgx's key=value form; its schema, search,
// search_config and tokenizer parameters override opts' and are not passed
// on to pgx.
// The store-wide skip_system_messages and last_k are chatstore.Open's, an
// error here.
func Open(ctx context.Context, connString string, opts *Options) (*Store, error) {
	cfg, o, err := ParseConfig(connString, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connecting: %w", translate(err))
	}
	s, err := New(ctx, pool, o)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// ParseConfig reads connString as Open does: it returns pgx's pool
// configuration, with chatstore's parameters taken out, and opts with the
// schema the string names (checked; DefaultSchema when none is named),
// its search parameters (search_config is checked by New, against the
// server) and its tokenizer (checked).
// chatstore bench --raw connects with it.
func ParseConfig(connString string, opts *Options) (*pgxpool.Config, *Options, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx's parse errors can quote the connection string.
		return nil, nil, fmt.Errorf("pgstore: %w: cannot parse the connection string (%s)", chatstore.ErrInvalidOptions, redact(connString))
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	// pgx sends the parameters it does not know to the server as run-time
	// settings; take chatstore's out first, as pgxpool does its pool_*.
	params := cfg.ConnConfig.RuntimeParams
	if v, ok := params["schema"]; ok {
		o.Schema = v
		delete(params, "schema")
	}
	if v, ok := params["search"]; ok {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, nil, fmt.Errorf("pgstore: %w: search=%q: use true or false", chatstore.ErrInvalidOptions, v)
		}
		o.NoSearch = !on
		delete(params, "search")
	}
	if v, ok := params["search_config"]; ok {
		o.SearchConfig = v // checked by New, which asks the server
		delete(params, "search_config")
	}
	if v, ok := params["tokenizer"]; ok {
		m, err := chatstore.NewMeter(v)
		if err != nil {
			return nil, nil, fmt.Errorf("pgstore: %w: tokenizer=%q: want one of %s", chatstore.ErrInvalidOptions, v, strings.Join(chatstore.Tokenizers(), ", "))
		}
		o.Tokenizer = m.Name()
		delete(params, "tokenizer")
	}
	for _, k := range []string{"skip_system_messages", "last_k"} {
		if _, ok := params[k]; ok {
			return nil, nil, fmt.Errorf("pgstore: %w: %s is a parameter of the store, not of the PostgreSQL connection: open with chatstore.Open, or set it in chatstore.Options", chatstore.ErrInvalidOptions, k)
		}
	}
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if !schemaName.MatchString(o.Schema) {
		return nil, nil, fmt.Errorf("pgstore: %w: schema %q: use lowercase letters, digits and underscores, not starting with a digit, at most 63 bytes", chatstore.ErrInvalidOptions, o.Schema)
	}
	return cfg, &o, nil
}

// New returns a Store on a pool the caller owns (Close leaves it open), and
// creates or migrates the schema.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	return newStore(ctx, pool, opts, schemaVersion)
}

// newStore is New with the schema brought to version (schemaVersion but in
// tests of migrations).
func newStore(ctx context.Context, pool *pgxpool.Pool, opts *Options, version int) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	schema := o.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	if !schemaName.MatchString(schema) {
		return nil, fmt.Errorf("pgstore: %w: schema %q: use lowercase letters, digits and underscores, not starting with a digit, at most 63 bytes", chatstore.ErrInvalidOptions, schema)
	}
	meter, err := chatstore.NewMeter(o.Tokenizer)
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, schema: pgx.Identifier{schema}.Sanitize(), cache: map[string]histState{}, log: o.Logger, counter: meter.Name()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.migrate(ctx, schema, version); err != nil {
		return nil, fmt.Errorf("pgstore: schema %s: %w", schema, translate(err))
	}
	config, err := searchConfig(ctx, pool, o.SearchConfig)
	if err != nil {
		return nil, err
	}
	// A schema left at an older version (tests of migrations) has no
	// columns to index into.
	s.ix = indexing{on: !o.NoSearch && version >= searchVersion, config: config}
	if s.ix.on {
		if s.ix.inClient, err = makesLexemes(ctx, pool, config); err != nil {
			return nil, fmt.Errorf("pgstore: search_config: %w", translate(err))
		}
	}
	s.q = makeQueries(s.schema, s.ix)
	// plan_cache_mode, which pinned sets, is PostgreSQL 12's.
	if err := pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int >= 120000").Scan(&s.pin); err != nil {
		return nil, fmt.Errorf("pgstore: %w", translate(err))
	}
	// A schema left at an older version has no costs to measure, and
	// the store does not write to it.
	if version >= costVersion {
		if err := s.measureExisting(ctx, schema, meter); err != nil {
			return nil, fmt.Errorf("pgstore: schema %s: measuring the messages with tokenizer %s: %w", schema, meter.Name(), translate(err))
		}
	}
	if s.ix.on {
		if err := s.indexExisting(ctx, schema); err != nil {
			return nil, fmt.Errorf("pgstore: schema %s: indexing the messages written without search: %w", schema, translate(err))
		}
	}
	return s, nil
}

// searchConfig checks that the text search configuration name (""
// for DefaultSearchConfig) exists, and returns it as SQL for the
// statements: its OID, a number, so that nothing in the name can reach
// the SQL.
func searchConfig(ctx context.Context, pool *pgxpool.Pool, name string) (string, error) {
	if name == "" {
		name = DefaultSearchConfig
	}
	var oid uint32
	err := pool.QueryRow(ctx, "SELECT $1::regconfig::oid", name).Scan(&oid)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "42") || strings.HasPrefix(pgErr.Code, "22")) {
		// 42704: no such configuration; 42602: not a name.
		return "", fmt.Errorf("pgstore: %w: search_config %q: %s", chatstore.ErrInvalidOptions, name, pgErr.Message)
	}
	if err != nil {
		return "", fmt.Errorf("pgstore: search_config %q: %w", name, translate(err))
	}
	return fmt.Sprintf("%d::oid::regconfig", oid), nil
}

// redact removes the password from a connection string, URL or key=value.
func redact(conn string) string {
	if u, err := url.Parse(conn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	if strings.Contains(conn, "@") || strings.Contains(conn, "password") {
		return "the connection string, withheld because it may hold a password"
	}
	return conn
}

// Close closes the pool if the Store opened it.
func (s *Store) Close() error {
	if s.owned {
		s.pool.Close()
	}
	return nil
}

// Ping implements driver.Pinger.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", "", s.pool.Ping(ctx))
}

// translate marks errors that mean the server cannot be used right now:
// failures to connect, a lost connection, the server shutting down or
// starting up, or running out of resources.
func translate(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),                                 // insufficient resources
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutdown, crash, cannot connect now
			return fmt.Errorf("%w: %w", chatstore.ErrUnavailable, err)
		}
		return err
	}
	if connectionFailed(err) {
		return fmt.Errorf("%w: %w", chatstore.ErrUnavailable, err)
	}
	return err
}

// connectionFailed reports errors of reaching the server, as opposed to
// mistakes in a request.
func connectionFailed(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// writeError is wrap for a failed write (Write, WriteKeyed), which must also
// say whether it may have been stored: a failure that chatstore counts as
// ErrUnavailable is ErrOutcomeUnknown too when the write's commit may have
// reached the server and been carried out, its answer lost.
//
// Only the step that commits can leave that unknown: the one statement of
// a guarded write (an implicit transaction, committed by the server when it
// has run it), or the batch of a locked write that ends in COMMIT; those
// errors come marked commitFailed. A failure of any earlier step (getting a
// connection, the batch that begins the transaction and locks the row,
// reading held ids) happened before COMMIT was sent: the server rolls an
// open transaction back when its connection goes, so nothing was stored.
// Of the failures of the commit step:
//   - pgconn.SafeToRetry: pgx sent nothing of it (it failed to write a
//     byte, or the connection was closed already), so nothing was
//     committed: the transaction was rolled back, or never began.
//   - a *pgconn.PgError of severity ERROR: the server aborted the statement
//     and with it the transaction (it skips the rest of the batch,
//     COMMIT included, up to the Sync), so nothing was stored.
//   - a *pgconn.PgError of severity FATAL or PANIC: the server ended the
//     session, which it can do after committing (a commit waiting for a
//     synchronous standby is already committed locally when the session is
//     terminated), so the outcome is unknown.
//   - any other failure of the connection (reset, EOF, closed, a timeout)
//     after pgx started sending: the statements may have reached the server
//     and been committed, the answer lost on the way back. Unknown. This
//     includes failures of pgx's first round trip for a statement it has not
//     prepared on the connection yet, which runs nothing; pgx does not tell
//     them apart, and unknown is the cautious answer.
//   - context.Canceled or DeadlineExceeded: pgx gave up waiting for the
//     answer and closed the connection, possibly after the server had
//     committed. Unknown, unless pgx had sent nothing (SafeToRetry).
func writeError(history string, err error) error {
	var cf *commitFailed
	if !errors.As(err, &cf) {
		return wrap("write", history, invalidContent(err))
	}
	err = cf.err
	if !commitUnknown(err) {
		return wrap("write", history, invalidContent(err))
	}
	return fmt.Errorf("pgstore: write %q: %w: %w: %w", history, chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable, err)
}

// commitUnknown reports whether err, from the step that commits a write,
// leaves unknown whether the write was committed; see writeError.
func commitUnknown(err error) bool {
	if pgconn.SafeToRetry(err) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		sev := pgErr.SeverityUnlocalized
		if sev == "" { // servers before 9.6 send only the localized one
			sev = pgErr.Severity
		}
		return sev == "FATAL" || sev == "PANIC"
	}
	return connectionFailed(err)
}

func wrap(op, history string, err error) error {
	if err == nil {
		return nil
	}
	if history != "" {
		op = fmt.Sprintf("%s %q", op, history)
	}
	return fmt.Errorf("pgstore: %s: %w", op, translate(err))
}

// Count implements driver.Store.
func (s *Store) Count(ctx context.Context, historyID string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, s.q.count, historyID, s.policy.Now()).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return n, wrap("count", historyID, err)
}

// Tail implements driver.Tailer. It reads the history backwards, a page at
// a time, for driver.LastRounds. The first page, sized for the rounds asked
// for, is nearly always enough and is one statement (in one request, see
// pinned); when it is not, the read starts again in a repeatable-read
// transaction, so that all pages see one state of the history.
func (s *Store) Tail(ctx context.Context, historyID string, rounds int) ([]driver.Message, error) {
	return s.ReadBounded(ctx, historyID, driver.Span{Rounds: rounds}, 0)
}

// ReadBounded implements driver.BoundedReader: rows are read one at a time,
// and a read over maxBytes (> 0) stops at the row that crosses it.
func (s *Store) ReadBounded(ctx context.Context, historyID string, span driver.Span, maxBytes int) ([]driver.Message, error) {
	if span.Backward() {
		rows, err := s.pool.Query(ctx, s.q.before, historyID, span.Before, span.Limit, s.policy.Now())
		if err != nil {
			return nil, wrap("range", historyID, err)
		}
		msgs, err := collect(rows, maxBytes)
		slices.Reverse(msgs)
		return msgs, wrap("range", historyID, err)
	}
	if span.Rounds == 0 {
		rows, err := s.pool.Query(ctx, s.q.rangeQ, historyID, span.From, span.Limit, span.Skip, s.policy.Now())
		if err != nil {
			return nil, wrap("range", historyID, err)
		}
		msgs, err := collect(rows, maxBytes)
		return msgs, wrap("range", historyID, err)
	}
	out, err := s.tailRead(ctx, historyID, span.Rounds, false, maxBytes, nil)
	return out, wrap("retrieve", historyID, err)
}

// TailUncompacted implements driver.CompactionTailer: the tail read,
// whose first statement also finds out, in its snapshot, whether the
// history holds compaction records (queries.tailUncompacted), and then
// reads none of its messages. For a span.Bare read, that statement reads
// no times or costs (queries.tailBare).
func (s *Store) TailUncompacted(ctx context.Context, historyID string, span driver.Span, maxBytes int) ([]driver.Message, bool, error) {
	var compacted bool
	out, err := s.tailRead(ctx, historyID, span.Rounds, span.Bare, maxBytes, &compacted)
	if compacted {
		return nil, true, nil
	}
	return out, false, wrap("retrieve", historyID, err)
}

// tailRead reads the last rounds of a history, within maxBytes, as
// ReadBounded says; with compacted, it reads nothing of a history that
// holds compaction records, and says so there, and with bare too, its
// first page has no times or costs.
func (s *Store) tailRead(ctx context.Context, historyID string, rounds int, bare bool, maxBytes int, compacted *bool) ([]driver.Message, error) {
	// One time for every page, so that they all see the history, or none.
	now := s.policy.Now()
	page := s.firstPage(historyID, rounds)
	var first querier = s.pool
	if s.pin {
		first = pinned{s.pool}
	}
	out, read, err := s.tail(ctx, first, historyID, now, rounds, bare, page, true, maxBytes, compacted)
	if errors.Is(err, errMorePages) {
		err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			var err error
			out, read, err = s.tail(ctx, tx, historyID, now, rounds, bare, page*4, false, maxBytes, compacted)
			return err
		})
	}
	if err == nil && read.rows > 0 {
		s.noteTail(historyID, rounds, read)
	}
	return out, err
}

// tailRead is what a tail read of a history read: the rows driver.LastRounds
// took to find the last rounds (the walk's end included), of a history of
// count messages then. rows is 0 when the read says nothing of the next
// (the history holds compaction records, or the read was of it whole).
type tailRead struct {
	rounds      int
	rows, count int64
}

// noteTail records, in the cached state of a history this process wrote,
// what a read of its last rounds took, to size the next (firstPage).
func (s *Store) noteTail(name string, rounds int, read tailRead) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if h, ok := s.cache[name]; ok {
		read.rounds = rounds
		h.tail = read
		s.cache[name] = h
	}
}

// scan reads a (seq, kind, id, body, created_at, cost) row (msgCols).
func scan(rows pgx.Rows, m *driver.Message) error {
	var kind int16
	err := rows.Scan(&m.Pos, &kind, &m.ID, &m.JSON, &m.CreatedAt, &m.Cost.Text, &m.Cost.Flat)
	m.Kind = driver.Kind(kind)
	return err
}

// collect reads msgCols rows, within maxBytes (> 0).
func collect(rows pgx.Rows, maxBytes int) ([]driver.Message, error) {
	defer rows.Close()
	var out []driver.Message
	size := 0
	for rows.Next() {
		var m driver.Message
		if err := scan(rows, &m); err != nil {
			return nil, err
		}
		if size += len(m.JSON); maxBytes > 0 && size > maxBytes {
			return nil, driver.ErrTooLarge
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

var errMorePages = errors.New("the tail goes past the first page")

// The positions of tailUncompacted's rows without a message (tailCols).
const (
	compactedPos = -1 // the history has compaction records
	emptyPos     = -2 // the history has no messages
)

// firstPage is how many messages to read first for the last `rounds`
// rounds. Every message read is converted from JSONB back to text, which is
// most of a read's cost, so the page is worth sizing; too small only costs
// a second read.
//
// If this process read the same rounds of the history before, the rows
// that read took, plus the messages written since, plus one: appending
// messages never moves the start of the last rounds back (their oldest
// closer only moves forward), so the tail grows by at most what was
// appended, and the one more row lets the read tell the end of a history
// it reads whole from a full page. Else, if this process wrote it and
// knows, the history's own messages per round with a quarter to spare;
// else three a round and some.
func (s *Store) firstPage(historyID string, rounds int) int64 {
	k := float64(min(rounds, 1<<20))
	h, ok := s.cached(historyID)
	if ok && h.tail.rows > 0 && h.tail.rounds == rounds {
		return h.tail.rows + max(h.count-h.tail.count, 0) + 1
	}
	if ok && h.rounds > 0 {
		perRound := float64(h.count) / float64(h.rounds)
		return int64(math.Ceil(k*perRound*1.25)) + 4
	}
	return int64(k)*3 + 16
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// pinned is a querier whose statements run with a generic plan that walks
// an index in order: a tail read's first page (tailPage, tailUncompacted, tailBare).
//
// Such a statement, prepared on a connection (pgx's statement cache), was
// planned anew on each run: PostgreSQL keeps planning a prepared statement
// for its values (a custom plan) while the plan it would cache (a generic
// plan) looks costlier, which it does for a LIMIT whose value it does not
// know. Planning was most of the read's time on the server (0.25 of 0.4
// ms). A generic plan made by the costs alone would be no better: made
// while the histories are small, it can sort a history's messages instead
// of walking its primary key backwards, and read a large history whole.
// So each statement runs after pinPlan, in the same request and implicit
// transaction (one Sync), whose settings end with it: a generic plan, made
// with bitmap scans, sequential scans and sorts ruled out, which leaves
// the ordered walk of the primary key (and the lookups of the history's
// row by its unique name and of its compaction records by their key).
type pinned struct{ pool *pgxpool.Pool }

// pinPlan is the settings of the statement that follows it (pinned).
const pinPlan = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_bitmapscan', 'off', true), " +
	"set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', true)"

func (p pinned) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var b pgx.Batch
	b.Queue(pinPlan)
	b.Queue(sql, args...)
	br := conn.SendBatch(ctx, &b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		conn.Release()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		rows.Close()
		br.Close()
		conn.Release()
		return nil, err
	}
	return &pinnedRows{Rows: rows, br: br, conn: conn}, nil
}

// pinnedRows are a pinned statement's rows; Close ends its request and
// returns its connection to the pool.
type pinnedRows struct {
	pgx.Rows
	br     pgx.BatchResults
	conn   *pgxpool.Conn
	err    error // of ending the request
	closed bool
}

func (r *pinnedRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.br.Close()
	r.conn.Release()
}

func (r *pinnedRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// tail reads backwards in pages, each four times the last, for
// driver.LastRounds, of a history that has not expired at now; with onePage it gives up with errMorePages after the
// first. When the first page shows that every message is wanted (rounds at
// least the count) and there are more, it reads the history forwards. With
// compacted, the first page is read with queries.tailUncompacted (or,
// if bare, queries.tailBare), which gives, for a history with compaction
// records, only a row at position -1: then tail sets *compacted and
// returns nothing; and for a history without messages, only a row at
// position -2, which it skips.
func (s *Store) tail(ctx context.Context, q querier, historyID string, now int64, rounds int, bare bool, page int64, onePage bool, maxBytes int, compacted *bool) ([]driver.Message, tailRead, error) {
	var (
		read    tailRead // rows handed to LastRounds, and the count
		rows    pgx.Rows // of the page being read; nil between pages
		short   bool     // rows are tailBare's
		n       int64    // rows read from it
		before  = int64(math.MaxInt64)
		readAll bool
		// scan targets, allocated once
		kind  int16
		m     driver.Message
		total int64
	)
	defer func() {
		if rows != nil {
			rows.Close()
		}
	}()
	out, err := driver.LastRounds(rounds, maxBytes, func() (driver.Message, bool, error) {
		for {
			if rows == nil {
				query := s.q.tailPage
				short = false
				if compacted != nil && before == math.MaxInt64 {
					query = s.q.tailUncompacted
					if bare {
						query, short = s.q.tailBare, true
					}
				}
				var err error
				if rows, err = q.Query(ctx, query, historyID, before, page, now); err != nil {
					return driver.Message{}, false, err
				}
				n = 0
			}
			if rows.Next() {
				m = driver.Message{}
				var err error
				if short {
					err = rows.Scan(&total, &m.Pos, &kind, &m.ID, &m.JSON)
				} else {
					err = rows.Scan(&total, &m.Pos, &kind, &m.ID, &m.JSON, &m.CreatedAt, &m.Cost.Text, &m.Cost.Flat)
				}
				if err != nil {
					return driver.Message{}, false, err
				}
				m.Kind = driver.Kind(kind)
				switch m.Pos {
				case compactedPos: // tailUncompacted's row for compaction records
					*compacted = true
					return driver.Message{}, false, nil
				case emptyPos: // tailUncompacted's row of a history without messages
					continue
				}
				if n == 0 && before == math.MaxInt64 && int64(rounds) >= total && total > page {
					readAll = true // every message is wanted, and there are more: read forwards
					return driver.Message{}, false, nil
				}
				n++
				read.rows, read.count = read.rows+1, total
				before = m.Pos
				return m, true, nil
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return driver.Message{}, false, err
			}
			rows = nil
			switch {
			case n < page: // the history's first message was read
				return driver.Message{}, false, nil
			case onePage:
				return driver.Message{}, false, errMorePages
			}
			page *= 4
		}
	})
	if rows != nil {
		rows.Close()
		rows = nil
	}
	if compacted != nil && *compacted {
		return nil, tailRead{}, err
	}
	if readAll && err == nil {
		out, err := s.all(ctx, q, historyID, now, maxBytes)
		return out, tailRead{}, err
	}
	return out, read, err
}

// all reads a whole history in order, within maxBytes, if it has not
// expired at now.
func (s *Store) all(ctx context.Context, q querier, historyID string, now int64, maxBytes int) ([]driver.Message, error) {
	rows, err := q.Query(ctx, s.q.tailAll, historyID, now)
	if err != nil {
		return nil, err
	}
	return collect(rows, maxBytes)
}

// Range implements driver.Store: a primary-key range scan.
func (s *Store) Range(ctx context.Context, historyID string, from, to int) ([]driver.Message, error) {
	return s.ReadBounded(ctx, historyID, driver.Span{From: int64(from), Limit: to - from}, 0)
}

// Delete implements driver.Store: the history and its messages, in one
// statement, whether it has expired or not.
func (s *Store) Delete(ctx context.Context, historyID string) error {
	s.forget(historyID)
	_, err := s.deleteLocked(ctx, s.q.deleteHistory, []any{historyID}, s.q.deleteHids)
	return wrap("delete", historyID, err)
}

// DeletePrefix implements driver.PrefixDeleter: one transaction, as
// Delete.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	s.forget("")
	_, err := s.deleteLocked(ctx, s.q.deletePrefix, []any{prefix}, s.q.deleteHids)
	return wrap("delete by prefix", prefix, err)
}

// deleteLocked deletes histories in one transaction of two round trips:
// the first locks their rows (lock with lockArgs: a statement that answers
// the hids it locked), the second deletes what it locked with everything
// they hold (del: deleteHistories of a condition on hid = ANY($1), given
// the hids, then delArgs) and commits. It answers what del answers.
//
// Locking first, in a statement of its own, is what makes a delete whole.
// A delete that found its rows in its own statement would remove the
// messages of its snapshot, taken before it waited for a writer's lock on
// a row, and leave behind what that writer stored meanwhile: rows of a
// history that is gone, outliving its erasure. Deleting only the rows
// locked leaves alone a history a write created after the lock: that
// write came after the delete.
func (s *Store) deleteLocked(ctx context.Context, lock string, lockArgs []any, del string, delArgs ...any) (driver.Swept, error) {
	var sw driver.Swept
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return sw, err
	}
	defer conn.Release()
	var (
		hids  []int64
		first pgx.Batch
	)
	first.Queue("BEGIN")
	first.Queue(lock, lockArgs...).Query(func(rows pgx.Rows) error {
		var err error
		hids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	err = conn.SendBatch(ctx, &first).Close()
	if err == nil {
		var second pgx.Batch
		if len(hids) > 0 {
			second.Queue(del, append([]any{hids}, delArgs...)...).QueryRow(func(r pgx.Row) error { return r.Scan(&sw.Histories, &sw.Messages) })
		}
		second.Queue("COMMIT")
		err = conn.SendBatch(ctx, &second).Close()
	}
	if err != nil {
		// As edit: end a transaction left open; a broken connection is
		// discarded by the pool, and the server rolls it back.
		if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		return driver.Swept{}, err
	}
	return sw, nil
}

// DeleteAll implements driver.Store: it empties this store's tables, and
// nothing outside its schema.
func (s *Store) DeleteAll(ctx context.Context) error {
	s.forget("")
	_, err := s.pool.Exec(ctx, s.q.deleteAll)
	return wrap("delete all", "", err)
}

// List implements driver.Store.
func (s *Store) List(ctx context.Context, after string, limit int) ([]driver.History, error) {
	rows, err := s.pool.Query(ctx, s.q.list, after, limit, s.policy.Now())
	if err != nil {
		return nil, wrap("list", "", err)
	}
	hs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (driver.History, error) {
		var h driver.History
		err := r.Scan(&h.ID, &h.Count)
		return h, err
	})
	return hs, wrap("list", "", err)
}
