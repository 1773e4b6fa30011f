package chatstore

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/jsonx"
)

// AppendJSON appends to dst, as a JSON array, the messages that Read
// returns for the same options, and returns how many there were. The bytes
// are exactly those of encoding Read's messages with
// chat.Message.AppendJSON, but are made without decoding: stores keep each
// message in that encoding, without its chat_message_id, so all that is
// left to do is put the id into the meta. This is what the HTTP server
// answers reads with; decoding and encoding again were most of its work.
func (s *Store) AppendJSON(ctx context.Context, dst []byte, historyID string, o ReadOptions) ([]byte, int, error) {
	key, err := s.key(historyID)
	if err != nil {
		return dst, 0, err
	}
	stored, err := s.read(ctx, key, o, o.CreatedAt)
	if err != nil {
		return dst, 0, err
	}
	return appendStored(dst, historyID, stored, o.CreatedAt, nil)
}

// WriteJSON writes to w what AppendJSON appends, in pieces of about
// flushSize bytes, so that a large answer is never whole in memory beside
// the messages it is made of; buf is the scratch buffer for the pieces.
// Nothing is written when the read fails; once writing has begun, an error
// (of w, or a stored message that cannot be read) leaves the array
// unfinished.
func (s *Store) WriteJSON(ctx context.Context, w io.Writer, buf []byte, historyID string, o ReadOptions) (int, error) {
	key, err := s.key(historyID)
	if err != nil {
		return 0, err
	}
	stored, err := s.read(ctx, key, o, o.CreatedAt)
	if err != nil {
		return 0, err
	}
	flush := func(b []byte) ([]byte, error) {
		_, err := w.Write(b)
		return b[:0], err
	}
	buf, n, err := appendStored(buf[:0], historyID, stored, o.CreatedAt, flush)
	if err == nil {
		_, err = flush(buf)
	}
	return n, err
}

// flushSize is how much WriteJSON gathers before it writes.
const flushSize = 32 << 10

// appendStored appends stored messages as a JSON array with their ids.
// With flush, it hands dst to flush whenever it holds flushSize bytes, and
// goes on with what flush returns.
//
// With withTime, each message gets its time as a last member, "created_at"
// (ReadOptions.CreatedAt).
func appendStored(dst []byte, historyID string, stored []driver.Message, withTime bool, flush func([]byte) ([]byte, error)) ([]byte, int, error) {
	dst = append(dst, '[')
	for i, sm := range stored {
		if flush != nil && len(dst) >= flushSize {
			var err error
			if dst, err = flush(dst); err != nil {
				return dst, 0, err
			}
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		out, ok := appendWithID(dst, sm.JSON, sm.ID)
		if !ok {
			// Not in the shape appendWithID knows: go the long way.
			m, err := decodeStored(historyID, sm)
			if err != nil {
				return dst, 0, err
			}
			if out, err = m.AppendJSON(dst); err != nil {
				return dst, 0, err
			}
		}
		dst = out
		if withTime {
			dst = appendCreatedAt(dst[:len(dst)-1], sm.CreatedAt) // in place of the closing brace
		}
	}
	return append(dst, ']'), len(stored), nil
}

// appendWithID appends body, a message as chat.Message.AppendJSON writes it
// ({"role":"…","meta":{…},…} with meta's keys sorted and no whitespace),
// with id inserted into its meta as chat_message_id where sorting puts it.
// It returns false, having appended nothing, for a body of another shape.
func appendWithID(dst, body []byte, id string) ([]byte, bool) {
	// The meta object starts after the role, which has no escapes.
	const rolePrefix, metaPrefix = `{"role":"`, `","meta":{`
	if !bytes.HasPrefix(body, []byte(rolePrefix)) {
		return dst, false
	}
	end := bytes.IndexByte(body[len(rolePrefix):], '"')
	if end < 0 || !bytes.HasPrefix(body[len(rolePrefix)+end:], []byte(metaPrefix)) {
		return dst, false
	}
	metaStart := len(rolePrefix) + end + len(metaPrefix) - 1 // at '{'
	at := metaStart + 1                                      // where the member goes
	comma := false                                           // whether a member comes before it
	if at >= len(body) {
		return dst, false // cut short: let the decoder say what is wrong
	}
	if body[at] != '}' {
		// Find the first key that sorts after chat_message_id, reading
		// the meta in place: a copy would cost as much as the content after
		// it, a large image's too, which is what this function avoids.
		// Nothing the decoder returns outlives this loop.
		d := jsonx.NewDecoderBytes(body[metaStart:])
		if d.OpenObject() != nil {
			return dst, false
		}
		for n := 0; ; n++ {
			off := d.Offset()
			key, more, err := d.NextKey(n)
			if err != nil {
				return dst, false
			}
			if !more {
				at, comma = metaStart+off, true // before the closing brace
				break
			}
			if key == MessageIDKey {
				return dst, false // stores never keep it inside; do not guess
			}
			if key > MessageIDKey {
				if n > 0 {
					off++ // past the comma
				}
				at = metaStart + off
				break
			}
			if d.Skip() != nil {
				return dst, false
			}
		}
	}
	n0 := len(dst)
	dst = append(dst, body[:at]...)
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, `"`+MessageIDKey+`":`...)
	dst, err := jsonx.AppendString(dst, id, jsonx.Compact)
	if err != nil {
		return dst[:n0], false
	}
	if !comma && body[at] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, body[at:]...), true
}

// appendCreatedAt appends `,"created_at":…}` to a message object missing
// its closing brace: the time in RFC 3339, UTC, to the millisecond, or null
// for 0 (a driver that keeps no times).
func appendCreatedAt(dst []byte, ms int64) []byte {
	var t time.Time
	if ms != 0 {
		t = time.UnixMilli(ms)
	}
	return append(appendTime(append(dst, `,"created_at":`...), t), '}')
}

// TimeFormat is how chatstore writes times (a message's created_at, a
// history's created_at and updated_at) wherever it writes them as text:
// RFC 3339 in UTC, to the millisecond, which is what the stores keep.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"
