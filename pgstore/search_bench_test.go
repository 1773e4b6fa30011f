package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/pgstore"
)

// corpusWords are the vocabulary of the search benchmark's messages, most
// frequent first: English's commonest words, then a support desk's.
var corpusWords = strings.Fields(`the to and a of i you is it that in for my on this be
	with your can have not are was we but at do if what so me as or they will an
	there just from about all would how when no one has like by get been out then
	more up some any which their its time now our us need here also please thanks
	order account help know should could issue see still think make new because
	work only back want way use try again first did last well after did very much
	payment card refund shipping delivery package email password login error
	update address number customer support team days week today yesterday problem
	charge charged invoice subscription plan cancel return item product price
	discount code tracking received sent check status working app website page
	settings phone message reply ticket request information details confirm
	billing credit bank transfer declined failed pending processed approved
	warehouse courier parcel damaged missing replacement exchange size color
	store online mobile version install download reset verify security link
	browser cache screenshot attached weekend holiday morning evening manager
	escalate priority urgent delay estimate schedule appointment available
	premium annual monthly trial expired renew upgrade downgrade feature
	platypus zeppelin quokka`)

// corpus returns n messages of 8 to 40 words drawn from corpusWords with
// Zipf's law, as words are in text, from seed.
func corpus(n int, seed uint64) []chat.Message {
	r := rand.New(rand.NewPCG(seed, 1))
	z := rand.NewZipf(r, 1.1, 2, uint64(len(corpusWords)-1))
	msgs := make([]chat.Message, n)
	for i := range msgs {
		w := make([]string, 8+r.IntN(33))
		for j := range w {
			w[j] = corpusWords[z.Uint64()]
		}
		text := strings.Join(w, " ") + "."
		if i%2 == 0 {
			msgs[i] = chat.User(text)
		} else {
			msgs[i] = chat.Assistant(text)
		}
	}
	return msgs
}

// BenchmarkSearch: 100,000 messages over 1,000 histories, the first page
// (20 hits) of two-word queries that match 44,055 messages (very common
// words), 2,944 (common), 102 (middling) and 51 (rare); a phrase (733), a
// prefix (182); the common query within one history (3) and its second
// page. PostgreSQL ranks every match to find the first 20, so the time
// follows the matches.
func BenchmarkSearch(b *testing.B) {
	pool := testPool(b)
	schema := freshSchema(b, pool)
	s, err := pgstore.New(context.Background(), pool, &pgstore.Options{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	st, err := chatstore.New(s, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for h := range 1000 {
		if _, err := st.Write(ctx, fmt.Sprintf("user-%03d/chat", h), corpus(100, uint64(h))); err != nil {
			b.Fatal(err)
		}
	}
	for _, table := range []string{"messages", "histories"} {
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+pgx.Identifier{schema, table}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}
	first, err := st.Search(ctx, chatstore.SearchOptions{Query: "you order"})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    chatstore.SearchOptions
	}{
		{"very-common", chatstore.SearchOptions{Query: "the you"}},
		{"common", chatstore.SearchOptions{Query: "you order"}},
		{"middling", chatstore.SearchOptions{Query: "refund declined"}},
		{"rare", chatstore.SearchOptions{Query: "platypus zeppelin"}},
		{"phrase", chatstore.SearchOptions{Query: `"the order"`}},
		{"prefix", chatstore.SearchOptions{Query: "pay* card"}},
		{"common-one-history", chatstore.SearchOptions{Query: "you order", Prefix: "user-042/"}},
		{"common-page-2", chatstore.SearchOptions{Query: "you order", Cursor: first.NextCursor}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				page, err := st.Search(ctx, c.o)
				if err != nil {
					b.Fatal(err)
				}
				n = len(page.Hits)
			}
			b.ReportMetric(float64(n), "hits")
		})
	}
}
