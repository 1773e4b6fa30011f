package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/jsonx"
	"github.com/chatstore/chatstore/internal/plural"
)

// The routes of issue 17's compaction records; its budgets are parameters
// of the reads (readMessages, context).

// compact is POST …/compactions {"through": MESSAGE_ID, "summary":
// MESSAGE}: from now on windowed reads return the summary in place of the
// messages up to and including through (chatstore.Store.Compact). 201 with
// the record.
func (s *Server) compact(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t, "format")
	if err != nil {
		return err
	}
	ms, err := s.members(w, r, "through", "summary")
	if err != nil {
		return err
	}
	raw, ok := ms["through"]
	if !ok {
		return badRequest("invalid_request", `the request body needs "through", the chat_message_id of the last message the summary stands for`)
	}
	through, err := jsonx.NewDecoder(raw.Raw).String()
	if err != nil {
		return badRequest("invalid_request", "through must be a message id (a string)")
	}
	raw, ok = ms["summary"]
	if !ok || string(raw.Raw) == "null" {
		return badRequest("invalid_request", `the request body needs "summary", the message that stands for the messages through it`)
	}
	summary, err := decodeMessage(raw, "summary", c.out.openai)
	if err != nil {
		return err
	}
	var rec chatstore.Compaction
	err = s.timed(r.Context(), "compact", func(ctx context.Context) (err error) {
		rec, err = c.store.Compact(ctx, c.id, through, summary)
		return err
	})
	if err != nil {
		return err
	}
	b, err := rec.AppendJSON(make([]byte, 0, 256+len(raw.Raw)))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, append(b, '\n'))
	return nil
}

// compactions is GET …/compactions: {"compactions": [each record]}, newest
// first, the one in effect marked (chatstore.Store.Compactions).
func (s *Server) compactions(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t)
	if err != nil {
		return err
	}
	var recs []chatstore.Compaction
	err = s.timed(r.Context(), "compactions", func(ctx context.Context) (err error) {
		recs, err = c.store.Compactions(ctx, c.id)
		return err
	})
	if err != nil {
		return err
	}
	b := append(make([]byte, 0, 512*(len(recs)+1)), `{"compactions":[`...)
	for i, rec := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = rec.AppendJSON(b); err != nil {
			return err
		}
		if len(b) > s.opts.MaxResponseBytes {
			return badRequest("response_too_large", fmt.Sprintf("the history's compaction records are over the response limit of %s; their summaries are too long to answer at once",
				plural.Bytes(int64(s.opts.MaxResponseBytes))))
		}
	}
	b = append(b, "]}\n"...)
	if err := s.holdAnswer(r, len(b)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}
