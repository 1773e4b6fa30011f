package server

import (
	"context"
	"net/http"

	"github.com/chatstore/chatstore"
)

// search answers GET /v1/search: the messages of the tenant's histories
// that match q, most relevant first.
func (s *Server) search(w http.ResponseWriter, r *http.Request, t Tenant) error {
	q, filter, err := listQuery(r, "q", "limit", "cursor", "prefix", "role", "since", "until", "reasoning")
	if err != nil {
		return err
	}
	if _, ok := q["q"]; !ok {
		return badRequest("invalid_query", `the query is missing: GET /v1/search?q=WORDS`)
	}
	if err := s.checkPrefix(q.Get("prefix")); err != nil {
		return err
	}
	o, err := chatstore.ParseSearchParams(q.Get)
	if err != nil {
		return err
	}
	o.Metadata = filter
	var page chatstore.SearchPage
	err = s.timed(r.Context(), "search", func(ctx context.Context) (err error) {
		page, err = s.storeOf(t).Search(ctx, o)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, append(page.AppendJSON(nil), '\n'))
	return nil
}
