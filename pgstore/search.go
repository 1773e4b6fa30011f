package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/search"
)

// Full-text search (driver.Searcher) on PostgreSQL's own engine: each
// message row holds the tsvector of its text and, apart, of its reasoning
// (migration 4 → 5), made by to_tsvector in the INSERT that writes the row
// (or in the client, exactly as to_tsvector would: lexemes.go) from
// search.IndexText, which has split and folded the words as every
// backend does; a query is one tsquery, matched along GIN indexes and
// ranked with ts_rank_cd.

// Indexing implements driver.Searcher: true unless the store was opened
// with search=false (Options.NoSearch).
func (s *Store) Indexing() bool { return s.ix.on }

// Search implements driver.Searcher: one statement. The query is one
// tsquery (see tsquery), matched against the text's tsvector and, with
// q.Reasoning, the reasoning's, each along its GIN index; the filters are
// conditions on the message's row (role, created_at) and its history's
// (the name's range, a range of metadata_by_pair for each pair). The
// score is ts_rank_cd of the field that matches (the greater if both do),
// normalized by the log of the field's length, as a float8 computed once
// per row: the cursor's score came from the same expression, so the
// comparison with it is exact.
func (s *Store) Search(ctx context.Context, q driver.SearchQuery) ([]driver.Hit, error) {
	if !s.ix.on {
		return nil, fmt.Errorf("pgstore: search: %w", chatstore.ErrNotSupported)
	}
	sql, args := s.searchSQL(q)
	// Planned for its values each time (an unnamed statement, its
	// description cached): how many messages a word selects, from the
	// statistics of the tsvectors' lexemes, decides between the GIN index
	// and reading the histories a prefix selects, and planning is little
	// next to ranking. A generic plan would guess.
	rows, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
	if err != nil {
		return nil, wrap("search", "", err)
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (driver.Hit, error) {
		var (
			h    driver.Hit
			kind int16
		)
		err := r.Scan(&h.HistoryID, &h.Pos, &kind, &h.ID, &h.JSON, &h.CreatedAt, &h.Cost.Text, &h.Cost.Flat, &h.Score)
		h.Kind = driver.Kind(kind)
		return h, err
	})
	return hits, wrap("search", "", err)
}

// searchSQL is the statement of a search and its arguments. Its text
// depends only on the query's shape (which filters, how many metadata
// pairs), so that pgx's cache of statement descriptions serves it.
func (s *Store) searchSQL(q driver.SearchQuery) (string, []any) {
	args := []any{tsquery(q.Query), s.policy.Now()}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	match := "m.text_tsv @@ q.q"
	score := "ts_rank_cd(m.text_tsv, q.q, 1)::float8"
	if q.Reasoning {
		// Text and reasoning are matched apart (search.MatchDoc): a
		// query's words split between them do not match.
		match = "(m.text_tsv @@ q.q OR m.reasoning_tsv @@ q.q)"
		score = "greatest(CASE WHEN m.text_tsv @@ q.q THEN ts_rank_cd(m.text_tsv, q.q, 1) END, " +
			"CASE WHEN m.reasoning_tsv @@ q.q THEN ts_rank_cd(m.reasoning_tsv, q.q, 1) END)::float8"
	}
	// A query whose words the configuration drops (stop words), or whose
	// parser finds none in them, is left with no term a message must
	// hold: querytree says 'T' for "-refund" alone, which would match
	// every message without the word; '' for nothing at all. Neither
	// finds anything, as search.Parse refuses a query of exclusions.
	// An expired history's messages are not there ($2, the Store's
	// clock).
	where := []string{"querytree(q.q) NOT IN ('', 'T')", live("h", 2)}
	if q.Prefix != "" {
		// name is COLLATE "C": the ids with a prefix are a range of it.
		p := arg(q.Prefix)
		where = append(where, "h.name >= "+p, "starts_with(h.name, "+p+")")
	}
	if len(q.Roles) > 0 {
		where = append(where, "m.role = ANY("+arg(q.Roles)+"::text[])")
	}
	// A message written before times were kept has time 0, as it reads.
	if q.Since != 0 {
		where = append(where, "coalesce(m.created_at, 0) >= "+arg(q.Since)+"::bigint")
	}
	if q.Until != 0 {
		where = append(where, "coalesce(m.created_at, 0) < "+arg(q.Until)+"::bigint")
	}
	// In key order, so that the statement's text is the same for the same
	// keys.
	for _, k := range slices.Sorted(maps.Keys(q.Metadata)) {
		where = append(where, "m.hid IN (SELECT hid FROM S.metadata WHERE key = "+arg(k)+" AND value = "+arg(q.Metadata[k])+")")
	}
	after := ""
	if a := q.After; a != nil {
		sc, id, pos := arg(a.Score)+"::float8", arg(a.HistoryID), arg(a.Pos)+"::bigint"
		after = " WHERE x.score < " + sc + " OR (x.score = " + sc + " AND (x.name > " + id + " OR (x.name = " + id + " AND x.seq > " + pos + ")))"
	}
	// OFFSET 0 keeps the subquery whole, so that score is computed once
	// per match: merged into the statement, each mention of x.score in
	// the cursor's condition would be another ts_rank_cd.
	sql := "SELECT x.name, x.seq, x.kind, x.id, x.body, x.created_at, x.ct, x.cf, x.score FROM (" +
		"SELECT h.name, m.seq, m.kind, coalesce(m.message_id, m.seq::text) AS id, m.body, coalesce(m.created_at, 0) AS created_at, " +
		"coalesce(m.cost_text, 0) AS ct, coalesce(m.cost_flat, 0) AS cf, " + score + " AS score " +
		"FROM to_tsquery(" + s.ix.config + ", $1) AS q (q) JOIN S.messages m ON " + match + " JOIN S.histories h ON h.hid = m.hid " +
		"WHERE " + strings.Join(where, " AND ") + " OFFSET 0) x" + after +
		" ORDER BY x.score DESC, x.name, x.seq LIMIT " + arg(q.Limit)
	return strings.ReplaceAll(sql, "S.", s.schema+"."), args
}

// tsquery writes q in to_tsquery's language: each term's tokens joined by
// <-> (a phrase: next to each other, in order), the last one :* for a
// prefix, ! before an excluded term, & between terms. Each token is
// quoted, so that nothing in it is read as an operator (search.Tokens
// gives letters, digits and marks only; quoting costs nothing), and goes
// through the configuration's parser and dictionaries as the texts did.
func tsquery(q search.Query) string {
	var b strings.Builder
	for i, t := range q.Terms {
		if i > 0 {
			b.WriteString(" & ")
		}
		if t.Exclude {
			b.WriteByte('!')
		}
		b.WriteByte('(')
		for j, tok := range t.Tokens {
			if j > 0 {
				b.WriteString(" <-> ")
			}
			b.WriteString(quoteLexeme(tok))
			if t.Prefix && j == len(t.Tokens)-1 {
				b.WriteString(":*")
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// quoteLexeme quotes a word for to_tsquery: in quotes, a quote is doubled
// and a backslash escapes.
func quoteLexeme(tok string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(tok) + "'"
}

// maxTSVector is the most a tsvector's lexemes and positions may take
// (PostgreSQL's MAXSTRPOS): to_tsvector fails on a text that needs more,
// which would fail the write.
const maxTSVector = 1<<20 - 1

// indexText is search.IndexText(s) for to_tsvector, cut, if need be, at
// the last word that keeps the tsvector within maxTSVector: a message
// whose text is larger than that is found by the words of its first
// megabyte or so of text (more for text that repeats its words).
//
// A tsvector takes, for each distinct word, its bytes and up to 5 more
// (alignment, the count of positions, the first position), and 2 bytes
// for each further position, up to 255 per word. So a text of n bytes
// needs at most 3n+3: below a third of the limit there is nothing to
// count.
func indexText(s string) string {
	t := search.IndexText(s)
	if 3*len(t)+3 <= maxTSVector {
		return t
	}
	return cutIndexText(t, maxTSVector)
}

// cutIndexText cuts t, words separated by single spaces, at the last word
// whose tsvector, counted as indexText says, stays within limit. The count
// is of t's words as they are, which the configuration's dictionaries only
// shorten (stems) or drop (stop words). (t has no word of 2,047 bytes or
// more, which PostgreSQL's parser would drop: package search drops them.)
func cutIndexText(t string, limit int) string {
	positions := map[string]int{}
	size := 0
	for i := 0; i < len(t); {
		j := strings.IndexByte(t[i:], ' ')
		if j < 0 {
			j = len(t)
		} else {
			j += i
		}
		w := t[i:j]
		n, seen := positions[w]
		add := 0
		switch {
		case !seen:
			add = len(w) + 5
		case n < 255:
			add = 2
		}
		if size+add > limit {
			return strings.TrimSuffix(t[:i], " ")
		}
		size += add
		positions[w] = n + 1
		i = j + 1
	}
	return t
}

// indexBatch is how many rows indexExisting indexes in one transaction.
const indexBatch = 500

// indexExisting indexes the messages that nobody indexed (role NULL):
// those written before search existed, with search=false, or by an older
// chatstore still running during an upgrade. It reads them along
// messages_unindexed, in (hid, seq) order, a batch at a time, each batch
// one transaction that locks its rows, decodes them (chat.Unmarshal),
// computes what a write would (search.Document, indexText) and updates
// them. Rows another opener has locked are skipped (SKIP LOCKED), so
// servers starting together share the work; a batch that fails leaves the
// batches before it done, for the next opening to go on from. Progress
// goes to the log.
func (s *Store) indexExisting(ctx context.Context, schema string) error {
	var left int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.schema+".messages WHERE role IS NULL").Scan(&left); err != nil {
		return err
	}
	if left == 0 {
		return nil
	}
	return overRows(ctx, s.log.With(slog.String("schema", schema)), left, indexBatch, "pgstore: indexing messages for search", "pgstore: indexed messages for search",
		"pgstore: messages that do not decode are not searchable", func(hid, seq *int64) (int, int, error) { return s.indexSome(ctx, hid, seq) })
}

// indexSome indexes the next batch of unindexed rows after (hid, seq), and
// moves (hid, seq) to its last row; it returns how many rows it read (fewer
// than indexBatch at the end), and how many of them did not decode (indexed
// with nothing to find, role "", so that they are not read again).
func (s *Store) indexSome(ctx context.Context, hid, seq *int64) (read, undecoded int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT hid, seq, body FROM "+s.schema+".messages WHERE role IS NULL AND (hid, seq) > ($1, $2) "+
			"ORDER BY hid, seq LIMIT $3 FOR UPDATE SKIP LOCKED", *hid, *seq, indexBatch)
		if err != nil {
			return err
		}
		var (
			hids, seqs                                        []int64
			roles, texts, reasonings, textTSVs, reasoningTSVs []string
			rowHid, rowSeq                                    int64
			body                                              []byte
		)
		_, err = pgx.ForEachRow(rows, []any{&rowHid, &rowSeq, &body}, func() error {
			m, err := chat.Unmarshal(body)
			var role, text, reasoning, textTSV, reasoningTSV string
			if err != nil {
				undecoded++
			} else {
				d := search.Document(m)
				role = string(m.Role)
				textTSV, text = s.ix.split(indexText(d.Text))
				reasoningTSV, reasoning = s.ix.split(indexText(d.Reasoning))
			}
			hids, seqs = append(hids, rowHid), append(seqs, rowSeq)
			roles, texts, reasonings = append(roles, role), append(texts, text), append(reasonings, reasoning)
			textTSVs, reasoningTSVs = append(textTSVs, textTSV), append(reasoningTSVs, reasoningTSV)
			return nil
		})
		if err != nil {
			return err
		}
		read = len(hids)
		if read == 0 {
			return nil
		}
		*hid, *seq = hids[read-1], seqs[read-1]
		_, err = tx.Exec(ctx, s.q.backfill, hids, seqs, roles, texts, reasonings, textTSVs, reasoningTSVs)
		return err
	})
	return read, undecoded, err
}
