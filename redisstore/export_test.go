package redisstore

import (
	"context"

	"github.com/chatstore/chatstore/driver"
)

// WriteScriptMarkers are byte strings that only the commands running a
// write script carry: the scripts' SHA-1 digests (EVALSHA) and their source
// (EVAL). The fault-injection test recognises a write by them.
func WriteScriptMarkers() [][]byte {
	return [][]byte{
		[]byte(writeScript.Hash()), []byte(keyedWriteScript.Hash()),
		[]byte(writeSrc), []byte(keyedWriteSrc),
	}
}

// ScriptTail reads the last rounds of a history with the tail script only,
// as the fast read (tail.go) falls back to.
func (s *Store) ScriptTail(ctx context.Context, historyID string, rounds int) ([]driver.Message, error) {
	msgs, _, err := s.readMessages(ctx, "retrieve", historyID, tailScript, rounds, "0")
	return msgs, err
}

// TailGuess is how many messages the next fast read fetches.
func (s *Store) TailGuess(rounds int) int64 { return s.tailGuess(rounds) }

// MarkSrc is the script a removal from the listing indexes runs on a
// cluster for each history it removed (markSrc).
const MarkSrc = markSrc
