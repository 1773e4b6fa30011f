package chatstore

import (
	"context"
	"fmt"
)

// EraseBatch is how many histories Erase lists, then deletes, at a time.
const EraseBatch = 100

// Erasure is what Erase removed.
type Erasure struct {
	// Histories and Messages are the histories deleted and the messages
	// they held when they were listed.
	Histories int64 `json:"histories"`
	Messages  int64 `json:"messages"`
}

// Erase deletes every history of the store (of a view made by Prefixed,
// every history under its prefix) whose metadata holds every pair of
// metadata: a person's data, by a key such as user_id. It lists and
// deletes EraseBatch histories at a time, so its memory and each step are
// bounded whatever it matches; a history is deleted with its messages,
// compaction records, idempotency keys and search entries, as Delete does.
// An erasure that stops part way (an error, a canceled context, a killed
// process) has deleted what it reports and leaves the rest matching:
// running it again finishes the job, and running it on nothing left
// erases nothing. A history written with matching metadata while it runs
// may be left. metadata must hold at least one pair (ErrInvalidMetadata
// otherwise: DeleteAll deletes everything); needs driver.Editor.
func (s *Store) Erase(ctx context.Context, metadata map[string]string) (Erasure, error) {
	var out Erasure
	if len(metadata) == 0 {
		return out, fmt.Errorf("chatstore: erase: %w: give at least one metadata pair to match", ErrInvalidMetadata)
	}
	if err := checkMetadataFilter(metadata); err != nil {
		return out, err
	}
	cursor := ""
	for {
		page, err := s.List(ctx, ListOptions{Metadata: metadata, Limit: EraseBatch, Cursor: cursor})
		if err != nil {
			return out, err
		}
		for _, h := range page.Histories {
			if err := s.Delete(ctx, h.ID); err != nil {
				return out, err
			}
			out.Histories++
			out.Messages += int64(h.Count)
		}
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
}
