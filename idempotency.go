package chatstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

const (
	// MaxIdempotencyKeyLen is the longest idempotency key, in bytes.
	MaxIdempotencyKeyLen = 255
	// DefaultIdempotencyWindow is how long a history remembers an
	// idempotency key: long enough for any client's retries, as Stripe's
	// API keeps them.
	DefaultIdempotencyWindow = 24 * time.Hour
)

// CheckIdempotencyKey reports whether key is a valid idempotency key: 1 to
// MaxIdempotencyKeyLen bytes of printable ASCII ('!' to '~', no spaces),
// which a UUID or any token a client generates is.
func CheckIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyLen {
		return fmt.Errorf("chatstore: %w: it must be 1 to %d bytes, got %d", ErrInvalidIdempotencyKey, MaxIdempotencyKeyLen, len(key))
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < '!' || c > '~' {
			return fmt.Errorf("chatstore: %w: byte %d is %q; only printable ASCII without spaces is allowed", ErrInvalidIdempotencyKey, i, c)
		}
	}
	return nil
}

// WriteIdempotent is Write with an idempotency key, for clients that must
// be able to retry a write whose outcome they did not learn (a timeout, a
// broken connection, ErrOutcomeUnknown) without storing it twice: messages
// without a chat_message_id would otherwise get new ids and be stored again.
//
// The key is recorded with the history in the same atomic step as the
// write, for Options.IdempotencyWindow. A write with a key the history
// holds writes nothing and returns what the first write returned, with
// replayed true; a key the history holds from a write of other messages is
// ErrIdempotencyKeyReused. Keys are per history: the same key on two
// histories is two keys. Deleting a history forgets its keys. Drivers
// without driver.KeyedWriter fail with ErrNotSupported.
func (s *Store) WriteIdempotent(ctx context.Context, historyID, key string, messages []chat.Message) (n int, replayed bool, err error) {
	if err := s.begin(ctx, "write"); err != nil {
		return 0, false, err
	}
	defer s.mu.RUnlock()
	id, err := s.key(historyID)
	if err != nil {
		return 0, false, err
	}
	if err := CheckIdempotencyKey(key); err != nil {
		return 0, false, err
	}
	kw, ok := s.drv.(driver.KeyedWriter)
	if !ok {
		return 0, false, fmt.Errorf("chatstore: idempotent write: %w", ErrNotSupported)
	}
	if len(messages) > s.opts.MaxWriteMessages {
		return 0, false, fmt.Errorf("chatstore: %w: %d messages; the limit is %d", ErrTooManyMessages, len(messages), s.opts.MaxWriteMessages)
	}
	recs, err := s.records(messages, nil)
	if err != nil || len(recs) == 0 {
		// Nothing to store (every message a skipped system message), so
		// nothing to store twice: the key is not recorded.
		return 0, false, err
	}
	fp := fingerprint(recs)
	out, err := kw.WriteKeyed(ctx, id, driver.Key{Key: key, Fingerprint: fp, TTL: s.opts.IdempotencyWindow}, recs)
	if err != nil {
		return 0, false, err
	}
	if out.Replayed && out.Fingerprint != fp {
		return 0, false, fmt.Errorf("chatstore: %w: history %q holds key %q from an earlier write of other messages; nothing was written", ErrIdempotencyKeyReused, historyID, key)
	}
	return out.Written, out.Replayed, nil
}

// fingerprint identifies the records of a write: their ids and JSON, each
// length-prefixed so that no two different writes run together alike.
func fingerprint(recs []driver.Record) string {
	h := sha256.New()
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, r := range recs {
		id := []byte{0}
		if r.HasID {
			id = append([]byte{1}, r.ID...)
		}
		put(id)
		put(r.JSON)
	}
	return hex.EncodeToString(h.Sum(nil))
}
