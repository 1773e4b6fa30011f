package chatstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// History metadata limits: OpenAI's for conversations.
const (
	MaxMetadataPairs    = 16
	MaxMetadataKeyLen   = 64
	MaxMetadataValueLen = 512
)

// now is the store's clock in Unix milliseconds, the unit drivers store.
func (s *Store) now() int64 {
	if s.opts.Clock != nil {
		return s.opts.Clock.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// Now is the time by the store's clock (Options.Clock), to the
// millisecond: the time it records and checks expiry against.
func (s *Store) Now() time.Time { return time.UnixMilli(s.now()) }

// editor returns the driver's driver.Editor, or ErrNotSupported for op.
func (s *Store) editor(op string) (driver.Editor, error) {
	e, ok := s.drv.(driver.Editor)
	if !ok {
		return nil, fmt.Errorf("chatstore: %s: %w", op, ErrNotSupported)
	}
	return e, nil
}

// CheckMessageID reports whether id can address a message: a non-empty
// chat_message_id of at most MaxHistoryIDLen bytes of valid UTF-8 without
// NUL. (A message may be written with an empty id; it is then read with
// the others but cannot be addressed alone.)
func CheckMessageID(id string) error {
	if err := checkID(id, false); err != nil {
		return fmt.Errorf("chatstore: %w: %v", ErrInvalidMessageID, err)
	}
	return nil
}

// Info describes a history: its message count, when it was created and
// last changed, and its metadata. ok is false for a history that does not
// exist (then only ID is set). Needs driver.Editor.
func (s *Store) Info(ctx context.Context, historyID string) (info HistoryInfo, ok bool, err error) {
	err = s.edit(ctx, "info", historyID, func(e driver.Editor, key string) error {
		var di driver.Info
		di, ok, err = e.Info(ctx, key)
		info = s.info(di)
		return err
	})
	info.ID = historyID
	return info, ok, err
}

// info turns a driver's Info into a HistoryInfo, its id without the
// store's prefix.
func (s *Store) info(di driver.Info) HistoryInfo {
	h := HistoryInfo{ID: di.ID[min(len(s.prefix), len(di.ID)):], Count: int(di.Count), Metadata: di.Metadata, Tokens: -1}
	if _, ok := s.drv.(driver.Coster); ok {
		h.Tokens = s.meter.Tokens(di.Cost, di.Count)
	}
	if di.CreatedAt != 0 {
		h.CreatedAt = time.UnixMilli(di.CreatedAt).UTC()
	}
	if di.UpdatedAt != 0 {
		h.UpdatedAt = time.UnixMilli(di.UpdatedAt).UTC()
	}
	expiryInfo(&h, di)
	if h.Metadata == nil && (di.CreatedAt != 0 || di.Count > 0) {
		h.Metadata = map[string]string{}
	}
	return h
}

// edit runs fn with the driver's Editor and the history's key, once the
// store is open and the id checked.
func (s *Store) edit(ctx context.Context, op, historyID string, fn func(e driver.Editor, key string) error) error {
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	key, err := s.key(historyID)
	if err != nil {
		return err
	}
	e, err := s.editor(op)
	if err != nil {
		return err
	}
	return fn(e, key)
}

// SetMetadata changes a history's metadata, creating the history (empty)
// if it does not exist: each key of changes is set to its value, or
// removed if the value is nil. The metadata after must keep to the limits
// (at most MaxMetadataPairs pairs, keys of 1 to MaxMetadataKeyLen bytes,
// values of at most MaxMetadataValueLen bytes, all valid UTF-8):
// ErrInvalidMetadata otherwise, and nothing changes. It returns the
// history's Info after. Needs driver.Editor.
func (s *Store) SetMetadata(ctx context.Context, historyID string, changes map[string]*string) (HistoryInfo, error) {
	for k, v := range changes {
		if err := checkMetadataPair(k, v); err != nil {
			return HistoryInfo{}, err
		}
	}
	var out HistoryInfo
	err := s.edit(ctx, "set metadata", historyID, func(e driver.Editor, key string) error {
		di, err := e.SetMetadata(ctx, key, changes, MaxMetadataPairs, s.now())
		if errors.Is(err, driver.ErrTooManyPairs) {
			return fmt.Errorf("chatstore: %w: history %q would have more than %d metadata pairs; nothing was changed", ErrInvalidMetadata, historyID, MaxMetadataPairs)
		}
		out = s.info(di)
		return err
	})
	return out, err
}

// checkMetadataFilter checks a filter by metadata (List, Search): pairs a
// history could hold, no more than it could hold.
func checkMetadataFilter(m map[string]string) error {
	if len(m) > MaxMetadataPairs {
		return fmt.Errorf("chatstore: %w: %d metadata pairs to match; a history holds at most %d", ErrInvalidMetadata, len(m), MaxMetadataPairs)
	}
	for k, v := range m {
		if err := checkMetadataPair(k, &v); err != nil {
			return err
		}
	}
	return nil
}

func checkMetadataPair(k string, v *string) error {
	switch {
	case strings.ContainsRune(k, 0) || v != nil && strings.ContainsRune(*v, 0):
		return fmt.Errorf("chatstore: %w: key %.80q: keys and values may not hold NUL (PostgreSQL cannot store it)", ErrInvalidMetadata, k)
	case k == "" || len(k) > MaxMetadataKeyLen:
		return fmt.Errorf("chatstore: %w: key %.80q: keys are 1 to %d bytes", ErrInvalidMetadata, k, MaxMetadataKeyLen)
	case !utf8.ValidString(k):
		return fmt.Errorf("chatstore: %w: key %.80q is not valid UTF-8", ErrInvalidMetadata, k)
	case v == nil:
		return nil
	case len(*v) > MaxMetadataValueLen:
		return fmt.Errorf("chatstore: %w: the value of %q is %d bytes; the limit is %d", ErrInvalidMetadata, k, len(*v), MaxMetadataValueLen)
	case !utf8.ValidString(*v):
		return fmt.Errorf("chatstore: %w: the value of %q is not valid UTF-8", ErrInvalidMetadata, k)
	}
	return nil
}

// StoredMessage is a message as stored: the message, with its
// chat_message_id in its meta, and when it was written.
type StoredMessage struct {
	Message   chat.Message
	CreatedAt time.Time // zero for a driver without driver.Editor
}

// Message returns the message whose chat_message_id is messageID, or
// ErrNotFound. Needs driver.Editor.
func (s *Store) Message(ctx context.Context, historyID, messageID string) (StoredMessage, error) {
	if err := CheckMessageID(messageID); err != nil {
		return StoredMessage{}, err
	}
	stored, err := s.readID(ctx, historyID, ReadOptions{MessageID: messageID})
	if err != nil {
		return StoredMessage{}, err
	}
	out, err := decodeStoredAll(historyID, stored)
	if err != nil {
		return StoredMessage{}, err
	}
	return out[0], nil
}

// ReadStored is Read, with each message's time.
func (s *Store) ReadStored(ctx context.Context, historyID string, o ReadOptions) ([]StoredMessage, error) {
	stored, err := s.readID(ctx, historyID, o)
	if err != nil {
		return nil, err
	}
	return decodeStoredAll(historyID, stored)
}

// readID is read for a history id as the caller has it.
func (s *Store) readID(ctx context.Context, historyID string, o ReadOptions) ([]driver.Message, error) {
	key, err := s.key(historyID)
	if err != nil {
		return nil, err
	}
	return s.read(ctx, key, o, true)
}

func decodeStoredAll(historyID string, stored []driver.Message) ([]StoredMessage, error) {
	out := make([]StoredMessage, len(stored))
	for i, sm := range stored {
		m, err := decodeStored(historyID, sm)
		if err != nil {
			return nil, err
		}
		out[i].Message = m
		if sm.CreatedAt != 0 {
			out[i].CreatedAt = time.UnixMilli(sm.CreatedAt).UTC()
		}
	}
	return out, nil
}

// notFound is the error for a message a history does not hold.
func notFound(historyID, messageID string, err error) error {
	if errors.Is(err, driver.ErrNotFound) {
		return fmt.Errorf("chatstore: %w: history %q holds no message %q", ErrNotFound, historyID, messageID)
	}
	return err
}

// DeleteMessage removes the message whose chat_message_id is messageID, as
// if it had never been written: the other messages keep their ids, and
// rounds (last_k) are those of the messages left. Its id may be written
// again; generated ids are never reused. ErrNotFound if the history holds
// no such message. Needs driver.Editor.
func (s *Store) DeleteMessage(ctx context.Context, historyID, messageID string) error {
	if err := CheckMessageID(messageID); err != nil {
		return err
	}
	return s.edit(ctx, "delete message", historyID, func(e driver.Editor, key string) error {
		return notFound(historyID, messageID, e.DeleteMessage(ctx, key, messageID, s.now()))
	})
}

// Truncate removes the message whose chat_message_id is fromID and every
// message written after it, and returns how many it removed: what an
// edit-and-regenerate does before writing the edited message. ErrNotFound
// if the history holds no such message. Needs driver.Editor.
func (s *Store) Truncate(ctx context.Context, historyID, fromID string) (int, error) {
	if err := CheckMessageID(fromID); err != nil {
		return 0, err
	}
	var n int
	err := s.edit(ctx, "truncate", historyID, func(e driver.Editor, key string) error {
		var err error
		n, err = e.Truncate(ctx, key, fromID, s.now())
		return notFound(historyID, fromID, err)
	})
	return n, err
}

// Fork creates history newID with copies of historyID's messages up to and
// including the one whose chat_message_id is through (all of them if
// through is ""), ids and times kept, and its metadata, in one atomic step
// inside the backend. ErrExists if newID exists, ErrNotFound if through is
// not held. It returns the new history's Info. Needs driver.Editor.
func (s *Store) Fork(ctx context.Context, historyID, newID, through string) (HistoryInfo, error) {
	var thr *string
	if through != "" {
		if err := CheckMessageID(through); err != nil {
			return HistoryInfo{}, err
		}
		thr = &through
	}
	newKey, err := s.key(newID)
	if err != nil {
		return HistoryInfo{}, err
	}
	var out HistoryInfo
	err = s.edit(ctx, "fork", historyID, func(e driver.Editor, key string) error {
		di, err := e.Fork(ctx, key, newKey, thr, s.now())
		if errors.Is(err, driver.ErrExists) {
			return fmt.Errorf("chatstore: %w: %q", ErrExists, newID)
		}
		out = s.info(di)
		return notFound(historyID, through, err)
	})
	return out, err
}
