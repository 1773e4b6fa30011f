package chatstore

import (
	"context"
	"fmt"

	"github.com/chatstore/chatstore/chat"
)

// Message returns the message of a history whose meta.chat_message_id is
// messageID, with that id in its meta, or ErrNotFound when the history (an
// unknown one included) has none.
//
// It costs a read of the history up to the message: it pages through the
// history in order, MaxRangeLimit messages at a time, comparing the ids the
// driver returns beside the messages and decoding only the one it finds.
// Histories only grow and a message keeps its position, so a message
// written during the search is found if it is the one asked for, and none
// is seen twice. An indexed lookup can come later as an optional driver
// capability, with this as its fallback.
func (s *Store) Message(ctx context.Context, historyID, messageID string) (chat.Message, error) {
	key, err := s.key(historyID)
	if err != nil {
		return chat.Message{}, err
	}
	if checkID(messageID, true) != nil {
		// No write stores such an id (toRecord), so no history holds it.
		return chat.Message{}, notFound(historyID, messageID)
	}
	for offset := 0; ; {
		page, err := s.read(ctx, key, ReadOptions{Offset: offset, Limit: MaxRangeLimit})
		if err != nil {
			return chat.Message{}, err
		}
		for _, sm := range page {
			if sm.ID == messageID {
				return decodeStored(historyID, sm)
			}
		}
		if len(page) < MaxRangeLimit {
			return chat.Message{}, notFound(historyID, messageID)
		}
		offset += len(page)
	}
}

func notFound(historyID, messageID string) error {
	return fmt.Errorf("chatstore: %w: history %.200q has no message with chat_message_id %.200q", ErrNotFound, historyID, messageID)
}
