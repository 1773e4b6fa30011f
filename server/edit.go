package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/jsonx"
	"github.com/chatstore/chatstore/internal/num"
)

// The routes of issue 16: a history's times and metadata, one message by
// its id, truncation and forks.

func writeInfo(w http.ResponseWriter, status int, h chatstore.HistoryInfo) {
	writeJSON(w, status, append(h.AppendJSON(make([]byte, 0, 256)), '\n'))
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t)
	if err != nil {
		return err
	}
	var info chatstore.HistoryInfo
	err = s.timed(r.Context(), "info", func(ctx context.Context) (err error) {
		info, _, err = c.store.Info(ctx, c.id)
		return err
	})
	if errors.Is(err, chatstore.ErrNotSupported) {
		// A backend without times and metadata still has counts: the
		// answer this route gave before them, and no tokens.
		info = chatstore.HistoryInfo{ID: c.id, Tokens: -1}
		err = s.timed(r.Context(), "count", func(ctx context.Context) (err error) {
			info.Count, err = c.store.Count(ctx, c.id)
			return err
		})
	}
	if err != nil {
		return err
	}
	writeInfo(w, http.StatusOK, info)
	return nil
}

// patchHistory changes a history's metadata, its own expiry, or both:
// {"metadata": {KEY: VALUE or null}} merged into what it has (null removes
// a key); {"ttl_seconds": N} (a sliding expiry) or {"expires_at": T} (a
// fixed one), null for either to remove its own so that the default TTL
// applies. It answers the history as GET does.
//
// The store has no single call for both, so a request with both is two
// steps: the metadata first, which the store may refuse for its limits
// with nothing changed, then the expiry, checked before either step. A
// failure of the store between them leaves the metadata changed and the
// expiry not, and the 5xx says the request failed; repeating it is safe.
func (s *Server) patchHistory(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t)
	if err != nil {
		return err
	}
	ms, err := s.members(w, r, "metadata", "ttl_seconds", "expires_at")
	if err != nil {
		return err
	}
	raw, hasMetadata := ms["metadata"]
	x, hasExpiry, err := expiryChange(ms, s.store.Now())
	if err != nil {
		return err
	}
	if !hasMetadata && !hasExpiry {
		return badRequest("invalid_request", `the request body needs "metadata" (an object), "ttl_seconds" or "expires_at" (or null, to remove the history's own expiry)`)
	}
	if hasExpiry && !s.store.Expires() {
		// Refused before the metadata step, so that nothing changes.
		return fmt.Errorf("chatstore: set expiry: %w", chatstore.ErrNotSupported)
	}
	var changes map[string]*string
	if hasMetadata {
		if changes, err = metadataChanges(raw.Raw); err != nil {
			return err
		}
	}
	var info chatstore.HistoryInfo
	if hasMetadata {
		err = s.timed(r.Context(), "set_metadata", func(ctx context.Context) (err error) {
			info, err = c.store.SetMetadata(ctx, c.id, changes)
			return err
		})
		if err != nil {
			return err
		}
	}
	if hasExpiry {
		err = s.timed(r.Context(), "set_expiry", func(ctx context.Context) (err error) {
			info, err = c.store.SetExpiry(ctx, c.id, x)
			return err
		})
		if err != nil {
			return err
		}
	}
	info.ID = c.id
	writeInfo(w, http.StatusOK, info)
	return nil
}

// maxTTLSeconds is the longest ttl_seconds, chatstore.MaxTTL.
const maxTTLSeconds = int(chatstore.MaxTTL / time.Second)

// expiryChange reads the members "ttl_seconds" (whole seconds, 1 to
// maxTTLSeconds) and "expires_at" (RFC 3339) of a PATCH: at most one not
// null; null removes the history's own expiry. given is false when
// neither is in the body.
func expiryChange(ms map[string]jsonx.Member, now time.Time) (x chatstore.Expiry, given bool, err error) {
	ttl, hasTTL := ms["ttl_seconds"]
	at, hasAt := ms["expires_at"]
	if !hasTTL && !hasAt {
		return x, false, nil
	}
	if hasTTL && string(ttl.Raw) != "null" {
		n, big, ok := num.Parse(string(ttl.Raw)) // digits only: no sign, fraction or exponent
		if !ok || big || n < 1 || n > maxTTLSeconds {
			return x, true, badRequest("invalid_expiry", fmt.Sprintf("ttl_seconds must be a whole number of seconds from 1 to %d (100 years), or null to remove the history's own expiry, got %.40s", maxTTLSeconds, ttl.Raw))
		}
		x.TTL = time.Duration(n) * time.Second
	}
	if hasAt && string(at.Raw) != "null" {
		if x.TTL != 0 {
			return x, true, badRequest("invalid_expiry", "give ttl_seconds (a sliding expiry) or expires_at (a fixed one), not both")
		}
		v, err := jsonx.NewDecoder(at.Raw).String()
		if err == nil {
			x.At, err = time.Parse(time.RFC3339Nano, v)
		}
		if err != nil {
			return x, true, badRequest("invalid_expiry", fmt.Sprintf("expires_at must be an RFC 3339 time such as \"2030-01-31T00:00:00Z\", or null to remove the history's own expiry, got %.60s", at.Raw))
		}
		if err := chatstore.CheckExpiry(x, now); err != nil {
			return x, true, badRequest("invalid_expiry", fmt.Sprintf("expires_at must be after 1970-01-01T00:00:00Z and at most 100 years from now, got %.60s", at.Raw))
		}
	}
	return x, true, nil
}

// metadataChanges reads a "metadata" member: an object of strings or
// nulls (a null removes the key). The limits on keys and values are the
// store's to check.
func metadataChanges(raw []byte) (map[string]*string, error) {
	d := jsonx.NewDecoder(raw)
	if d.Peek() != jsonx.Object {
		return nil, badRequest("invalid_metadata", "metadata must be an object of strings (or null, to remove a key), got "+d.Peek().String())
	}
	if err := d.OpenObject(); err != nil {
		return nil, bodyErr("metadata", err)
	}
	changes := map[string]*string{}
	for n := 0; ; n++ {
		key, ok, err := d.NextKey(n)
		if err != nil {
			return nil, bodyErr("metadata", err)
		}
		if !ok {
			break
		}
		if _, dup := changes[key]; dup {
			return nil, badRequest("invalid_metadata", fmt.Sprintf("metadata: the key %.80q is given twice", key))
		}
		// Every pair could be removed and as many set in one change, no
		// more: a longer object cannot be stored, so it is not kept.
		if len(changes) == 2*chatstore.MaxMetadataPairs {
			return nil, badRequest("invalid_metadata", fmt.Sprintf("metadata: more than %d keys in one change; a history holds at most %d pairs", 2*chatstore.MaxMetadataPairs, chatstore.MaxMetadataPairs))
		}
		v, isString, err := d.StringOrNull()
		if err != nil {
			return nil, badRequest("invalid_metadata", fmt.Sprintf("metadata.%.80s: values must be strings, or null to remove the key: %v", key, strings.TrimPrefix(err.Error(), "jsonx: ")))
		}
		if isString {
			changes[key] = &v
		} else {
			changes[key] = nil
		}
	}
	return changes, nil
}

// messageID returns the path's message id, checked.
func messageID(r *http.Request) (string, error) {
	sp, _ := r.Context().Value(pathKey{}).(sentPath)
	if err := chatstore.CheckMessageID(sp.messageID); err != nil {
		return "", err
	}
	return sp.messageID, nil
}

// getMessage answers {"message": M}: the message whose chat_message_id is
// in the path, in the format asked, with its created_at beside its members
// with ?include=created_at (Haystack's format only).
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t, "format", "require_tool_call_ids", "include")
	if err != nil {
		return err
	}
	mid, err := messageID(r)
	if err != nil {
		return err
	}
	withTime, err := includeParam(c)
	if err != nil {
		return err
	}
	sel := chatstore.ReadOptions{MessageID: mid, CreatedAt: withTime, MaxBytes: s.opts.MaxResponseBytes}
	var b []byte
	if !c.out.openai {
		var list []byte
		err = s.timed(r.Context(), "message", func(ctx context.Context) (err error) {
			list, _, err = c.store.AppendJSON(ctx, nil, c.id, sel)
			return err
		})
		if err != nil {
			return s.readFailed(err)
		}
		// AppendJSON writes a list, here of the one message: [M].
		b = append(append([]byte(`{"message":`), list[1:len(list)-1]...), "}\n"...)
	} else {
		var msgs []chat.Message
		err = s.timed(r.Context(), "message", func(ctx context.Context) (err error) {
			msgs, err = c.store.Read(ctx, c.id, sel)
			return err
		})
		if err != nil {
			return s.readFailed(err)
		}
		if b, err = msgs[0].AppendOpenAI([]byte(`{"message":`), c.out.opts); err != nil {
			var ce *chat.Error
			if errors.As(err, &ce) {
				ce.Within("message")
				return badRequest("not_convertible", strings.TrimPrefix(ce.Error(), "chat: "))
			}
			return err
		}
		b = append(b, "}\n"...)
	}
	if err := s.holdAnswer(r, len(b)); err != nil {
		return err
	}
	s.metrics.read.Add(1)
	writeJSON(w, http.StatusOK, b)
	return nil
}

// includeParam reads ?include=created_at, which only Haystack's format
// carries.
func includeParam(c historyCall) (bool, error) {
	v, ok := c.query["include"]
	if !ok {
		return false, nil
	}
	if v[0] != "created_at" {
		return false, badRequest("invalid_query", fmt.Sprintf(`include takes "created_at", got %q`, truncate(v[0], 100)))
	}
	if c.out.openai {
		return false, badRequest("invalid_query", "include=created_at applies only to Haystack's format, not with format=openai")
	}
	return true, nil
}

func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t)
	if err != nil {
		return err
	}
	mid, err := messageID(r)
	if err != nil {
		return err
	}
	if err := s.timed(r.Context(), "delete_message", func(ctx context.Context) error { return c.store.DeleteMessage(ctx, c.id, mid) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// truncate is DELETE …/messages?from=ID: that message and every one after
// it.
func (s *Server) truncate(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t, "from")
	if err != nil {
		return err
	}
	from, ok := c.query["from"]
	if !ok {
		return badRequest("invalid_query", `DELETE …/messages needs ?from=MESSAGE_ID (that message and every one after it are deleted); to delete the whole history, DELETE /v1/histories/{history_id}`)
	}
	var n int
	err = s.timed(r.Context(), "truncate", func(ctx context.Context) (err error) {
		n, err = c.store.Truncate(ctx, c.id, from[0])
		return err
	})
	if err != nil {
		return err
	}
	b := strconv.AppendInt([]byte(`{"messages_deleted":`), int64(n), 10)
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
	return nil
}

// fork is POST …/fork {"chat_history_id": NEW, "through": MESSAGE_ID}: a
// new history with the messages up to and including through (all without
// it) and the metadata. 201 with the new history as GET shows it.
func (s *Server) fork(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t)
	if err != nil {
		return err
	}
	ms, err := s.members(w, r, "chat_history_id", "through")
	if err != nil {
		return err
	}
	raw, ok := ms["chat_history_id"]
	if !ok {
		return badRequest("invalid_request", `the request body needs "chat_history_id", the id of the new history`)
	}
	newID, err := jsonx.NewDecoder(raw.Raw).String()
	if err != nil {
		return badRequest("invalid_request", "chat_history_id must be a string")
	}
	if err := s.checkHistoryID(newID, t); err != nil {
		return err
	}
	var through string
	if raw, ok := ms["through"]; ok {
		v, _, err := jsonx.NewDecoder(raw.Raw).StringOrNull()
		if err != nil {
			return badRequest("invalid_request", "through must be a message id (a string) or null")
		}
		if v == "" && !bytes.Equal(raw.Raw, []byte("null")) {
			return badRequest("invalid_message_id", "through is empty; give a chat_message_id, or leave it out to copy every message")
		}
		through = v
	}
	var info chatstore.HistoryInfo
	err = s.timed(r.Context(), "fork", func(ctx context.Context) (err error) {
		info, err = c.store.Fork(ctx, c.id, newID, through)
		return err
	})
	if err != nil {
		return err
	}
	info.ID = newID
	w.Header().Set("Location", historiesPrefix+url.PathEscape(newID))
	writeInfo(w, http.StatusCreated, info)
	return nil
}
