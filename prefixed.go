package chatstore

import (
	"context"
	"fmt"

	"github.com/chatstore/chatstore/driver"
)

// Prefixed returns a view of s that keeps its histories under ids that
// start with prefix, as Go CDK's blob.PrefixedBucket does for keys: a store
// of its own to its caller, whose ids go in and come out without the
// prefix, and whose every call (Write, Read, Count, Delete, List,
// DeleteAll, …) reaches only the histories under the prefix. The HTTP
// server gives each tenant one.
//
// Views are isolated from each other when no prefix starts another, so end
// prefixes with a separator their names cannot hold (the server's
// "tenant:NAME:" with ':' barred from names). An id must fit
// MaxHistoryIDLen with the prefix. A view of a view adds both prefixes; a
// view under "" is the whole store (its DeleteAll deletes every history).
//
// A view shares s's driver, options and lifetime, and costs one small
// allocation, so one per request is fine: its Close does nothing, and it
// fails with ErrClosed once s is closed. Its List cursors hold the ids as s
// has them, as s's own cursors do. It has no Haystack dictionary
// (component.StoreDict): Haystack's stores have no prefix, and a store
// loaded from one would see every history.
func Prefixed(s *Store, prefix string) *Store {
	return &Store{drv: s.drv, opts: s.opts, meter: s.meter, prefix: s.prefix + prefix, view: true, lifetime: s.lifetime}
}

// key returns the id the driver keeps a history under: the store's prefix
// and historyID, which must be a valid history id (CheckHistoryID), and fit
// MaxHistoryIDLen with the prefix.
func (s *Store) key(historyID string) (string, error) {
	if err := CheckHistoryID(historyID); err != nil || s.prefix == "" {
		return historyID, err
	}
	key := s.prefix + historyID
	if err := checkID(key, false); err != nil {
		return "", fmt.Errorf("chatstore: %w: with the store's prefix %q it %v", ErrInvalidHistoryID, s.prefix, err)
	}
	return key, nil
}

// deleteUnder is DeleteAll of a view: it removes every history whose id
// starts with the view's prefix, the prefix itself as an id included. On
// drivers with driver.PrefixDeleter (in memory, SQLite, PostgreSQL) that is
// one atomic step; on others (Redis) the histories go one at a time, so a
// failure half-way leaves some, each whole, and a history written meanwhile
// may survive.
func (s *Store) deleteUnder(ctx context.Context) error {
	if err := checkID(s.prefix, false); err != nil {
		return fmt.Errorf("chatstore: delete all: %w: the store's prefix %q %v", ErrInvalidHistoryID, s.prefix, err)
	}
	if d, ok := s.drv.(driver.PrefixDeleter); ok {
		if err := s.begin(ctx, "delete all"); err != nil {
			return err
		}
		defer s.mu.RUnlock()
		return d.DeletePrefix(ctx, s.prefix)
	}
	// Listed from the whole store, as the view cannot name the history
	// whose id is its prefix.
	whole := &Store{drv: s.drv, opts: s.opts, meter: s.meter, view: true, lifetime: s.lifetime}
	for {
		// Always the first page: deleting what it lists moves the rest up.
		page, err := whole.List(ctx, ListOptions{Prefix: s.prefix, Limit: MaxListLimit})
		if err != nil {
			return err
		}
		for _, h := range page.Histories {
			if err := whole.Delete(ctx, h.ID); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
	}
}
