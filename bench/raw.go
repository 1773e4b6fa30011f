package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// The raw baseline: the workloads done with plain statements on the
// database a store URL names, without chatstore. Each message is one row
// (history, seq, its JSON) in a table of the run's own (SQLite, PostgreSQL),
// or one element of a list per history (Redis: RPUSH, LRANGE). There are no
// message ids, no rounds, no validation, no idempotency and no locking of a
// history against concurrent writers; a write encodes its messages to JSON
// (as the store does) and a read decodes the rows' JSON into messages (as
// the store's RetrieveLast returns them; decoding is most of a short read's
// work, and leaving it out made the store look four times slower). Where the
// store reads the last 10 rounds, the baseline reads the last N messages, N
// being the number of messages those rounds hold (worked out from the
// workload's messages with the store's round rule), so both read the same.

// ErrNoRaw is wrapped by OpenRaw's error for a store URL whose backend has
// no raw baseline (memory://, or a scheme it does not know).
var ErrNoRaw = errors.New("no raw baseline")

// Raw is a raw baseline on the database of a store URL. Close removes what
// it made.
type Raw struct {
	name string
	db   rawDB
}

// rawDB is one database's plain statements.
type rawDB interface {
	// append writes the messages' JSON after the history's last.
	append(ctx context.Context, historyID string, bodies [][]byte) error
	// last reads the last n messages' JSON, oldest first.
	last(ctx context.Context, historyID string, n int) ([][]byte, error)
	delete(ctx context.Context, historyID string) error
	// settle writes back what the database's log holds (RunCompare), so
	// that the next run does not pay for the last one's writes.
	settle(ctx context.Context) error
	// close removes the baseline's table (or keys) and disconnects.
	close(ctx context.Context) error
}

// RawSchemes are the store URL schemes with a raw baseline.
var RawSchemes = []string{"sqlite", "postgres", "postgresql", "redis", "rediss", "redis+cluster", "rediss+cluster"}

// OpenRaw connects to the database storeURL names, read as chatstore.Open
// reads it (with the backend's own URL handling), and makes the baseline's
// table there: chatstore_raw_bench_ and 8 random hex digits, in the file
// (SQLite) or in the store's schema (PostgreSQL; the schema is made if it
// does not exist, and then dropped by Close). On Redis the keys are the
// store's key prefix, "raw:", and the history id. The caller closes it.
func OpenRaw(ctx context.Context, storeURL string) (*Raw, error) {
	u, err := chatstore.ParseURL(storeURL)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	rand.Read(b[:])
	table := "chatstore_raw_bench_" + hex.EncodeToString(b[:])
	var db rawDB
	switch u.Scheme {
	case "sqlite":
		db, err = openRawSQLite(ctx, u, table)
	case "postgres", "postgresql":
		db, err = openRawPG(ctx, u, table)
	case "redis", "rediss", "redis+cluster", "rediss+cluster":
		db, err = openRawRedis(ctx, u)
	case "memory":
		return nil, fmt.Errorf("bench: %w for memory://: the memory store has no database under it; the raw baseline runs on sqlite:, postgres://, redis:// and redis+cluster:// stores", ErrNoRaw)
	default:
		return nil, fmt.Errorf("bench: %w for %s: the raw baseline runs on sqlite:, postgres://, redis:// and redis+cluster:// stores", ErrNoRaw, u.Redacted())
	}
	if err != nil {
		return nil, fmt.Errorf("bench: raw baseline: %w", err)
	}
	name := u.Redacted() // as the URL was given, not re-encoded by ParseURL
	if v, err := url.Parse(storeURL); err == nil {
		name = v.Redacted()
	}
	return &Raw{name: "raw " + name, db: db}, nil
}

// Settles says whether RunCompare's settling of the database between runs
// has worked so far: false once PostgreSQL has refused the CHECKPOINT to
// a user without the right (see rawPG.settle).
func (r *Raw) Settles() bool {
	p, ok := r.db.(*rawPG)
	return !ok || !p.cannotCheckpoint
}

// Name is the baseline's name in a report: "raw" and the redacted URL.
func (r *Raw) Name() string { return r.name }

// Close removes the baseline's table (SQLite, PostgreSQL) and disconnects.
func (r *Raw) Close(ctx context.Context) error {
	if err := r.db.close(ctx); err != nil {
		return fmt.Errorf("bench: raw baseline: %w", err)
	}
	return nil
}

// RunRaw runs the configured workloads on the raw baseline, as Run does on
// a store, and deletes what it wrote.
func RunRaw(ctx context.Context, r *Raw, cfg Config) (*Report, error) {
	return run(ctx, rawTarget{r.db}, r.name, cfg)
}

type rawTarget struct{ db rawDB }

func (t rawTarget) write(ctx context.Context, id string, msgs []chat.Message) error {
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		b, err := m.MarshalJSON()
		if err != nil {
			return err
		}
		bodies[i] = b
	}
	return t.db.append(ctx, id, bodies)
}

func (t rawTarget) readLast(ctx context.Context, id string, _, msgs int) (int, error) {
	bodies, err := t.db.last(ctx, id, msgs)
	if err != nil {
		return 0, err
	}
	for _, b := range bodies {
		if _, err := chat.Unmarshal(b); err != nil {
			return 0, err
		}
	}
	return len(bodies), nil
}

func (rawTarget) search(context.Context, string, string) (int, error) {
	return 0, fmt.Errorf("%w: S1 has no raw baseline", ErrConfig)
}

func (t rawTarget) delete(ctx context.Context, id string) error { return t.db.delete(ctx, id) }
func (rawTarget) raw() bool                                     { return true }

// reverse turns rows read newest first into the order they were written.
func reverse(rows [][]byte) {
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
}
