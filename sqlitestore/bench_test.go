package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/storebench"
)

func openBench(b *testing.B, dir, query string) *chatstore.Store {
	b.Helper()
	st, err := chatstore.Open(context.Background(), "sqlite://"+filepath.ToSlash(filepath.Join(dir, "bench.db"))+query, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func BenchmarkRetrieveLast10(b *testing.B) {
	storebench.RetrieveLast10(b, openBench(b, b.TempDir(), ""), 100, 100_000, 1_000_000)
}

// BenchmarkWindow: budgeted reads, which walk the history backwards a page
// at a time and stop at the budget, of a short and a long history.
func BenchmarkWindow(b *testing.B) {
	storebench.Window(b, openBench(b, b.TempDir(), ""), 100, 1_000_000)
}

// BenchmarkTokenizers: the write cost of each tokenizer.
func BenchmarkTokenizers(b *testing.B) {
	storebench.Tokenizers(b, func(b *testing.B, name string) *chatstore.Store {
		return openBench(b, b.TempDir(), "?tokenizer="+name)
	})
}

// withSearch runs bench as sub-benchmarks search=true (the default: writes
// keep the full-text index) and search=false, with the URL parameter.
func withSearch(b *testing.B, bench func(b *testing.B, param string)) {
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprint("search=", on), func(b *testing.B) { bench(b, fmt.Sprint("search=", on)) })
	}
}

func BenchmarkWriteBatch100(b *testing.B) {
	withSearch(b, func(b *testing.B, search string) {
		storebench.WriteBatch100(b, openBench(b, b.TempDir(), "?"+search))
	})
}

// BenchmarkWriteOne: each write is a transaction of its own.
func BenchmarkWriteOne(b *testing.B) {
	withSearch(b, func(b *testing.B, search string) {
		storebench.WriteOne(b, openBench(b, b.TempDir(), "?"+search), "h")
	})
}

// BenchmarkWriteOneParallel64: 64 writers, each on its own history; group
// commit lets one transaction serve many writes.
func BenchmarkWriteOneParallel64(b *testing.B) {
	for _, sync := range []string{"normal", "full"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			withSearch(b, func(b *testing.B, search string) {
				storebench.Clients64(b, openBench(b, b.TempDir(), "?synchronous="+sync+"&"+search), false)
			})
		})
	}
}

// The baseline the issue states its targets against: plain modernc.org/sqlite
// through database/sql (WAL, synchronous=NORMAL), one (history, seq) key, no
// ids, rounds or validation. Measured in the same run, it shows what
// chatstore's bookkeeping costs on the machine at hand.

func openRaw(b *testing.B) *sql.DB {
	b.Helper()
	db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "raw.db")+"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE m (history TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (history, seq)) WITHOUT ROWID"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkBaselineWriteOne(b *testing.B) {
	db := openRaw(b)
	ins, _ := db.Prepare("INSERT INTO m VALUES ('h', ?, ?)")
	bodies := storebench.Bodies(2)
	i := 0
	for b.Loop() {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Stmt(ins).Exec(i, bodies[i%2]); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBaselineWriteBatch100(b *testing.B) {
	db := openRaw(b)
	ins, _ := db.Prepare("INSERT INTO m VALUES (?, ?, ?)" + strings.Repeat(",(?, ?, ?)", 99))
	bodies := storebench.Bodies(100)
	seq := map[int]int{}
	i := 0
	for b.Loop() {
		h := i % 100
		args := make([]any, 0, 300)
		for j, body := range bodies {
			args = append(args, fmt.Sprint("h", h), seq[h]+j, body)
		}
		seq[h] += 100
		tx, _ := db.Begin()
		if _, err := tx.Stmt(ins).Exec(args...); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBaselineReadLast10(b *testing.B) {
	db := openRaw(b)
	bodies := storebench.Bodies(1000)
	tx, _ := db.Begin()
	ins, _ := tx.Prepare("INSERT INTO m VALUES ('h', ?, ?)")
	for i := range 100_000 {
		if _, err := ins.Exec(i, bodies[i%1000]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	q, _ := db.Prepare("SELECT body FROM m WHERE history = 'h' ORDER BY seq DESC LIMIT 20")
	for b.Loop() {
		rows, err := q.Query()
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var body []byte
			rows.Scan(&body)
			if _, err := chat.Unmarshal(body); err != nil { // as a store would
				b.Fatal(err)
			}
			n++
		}
		rows.Close()
		if n != 20 {
			b.Fatalf("%d rows", n)
		}
	}
}

// searchVocabulary is the words of BenchmarkSearch's messages, most frequent
// first: drawn with Zipf's law, as words of English text are.
var searchVocabulary = strings.Fields(`the to and a of i you is it for in my that this your on
	be with have can not are we was but me do at so if what please order as will an
	or just from there they thanks get know it's would like about help one all
	need how when no account time out could up here has now any been also sure
	did which more some then ok back should new our yes email get see check
	payment card number working again still problem because other make let
	any issue after today day send support right only go change us try
	refund delivery package shipping address password login update
	price invoice subscription cancel plan app phone error message screen
	week month year first last every same different better great good bad
	customer service team manager agent question answer information details
	product item size color return exchange store online website link page
	receive received sent charged charge billing bank transfer pending
	approved declined failed successful working broken damaged missing late
	tracking courier warehouse stock available unavailable discount coupon
	code promotion offer free premium basic monthly annual trial upgrade
	downgrade renew renewal expired expire reset verify verification
	confirm confirmation download install device computer laptop tablet
	browser chrome safari firefox windows android iphone settings profile
	notification notifications alert alerts battery camera photo photos video
	upload uploads file files folder document documents storage space
	limit limits quota restore backup sync synchronization network wifi
	connection slow fast speed performance crash crashes freeze frozen
	restart reinstall version release feature features bug bugs fix fixed
	weather berlin london paris tokyo travel flight hotel booking reservation
	ticket tickets seat seats luggage baggage airport gate delay delayed
	recipe dinner lunch breakfast restaurant menu vegetarian allergy gluten`)

// searchText is a message of n words of the vocabulary.
func searchText(r *rand.Rand, z *rand.Zipf, n int) string {
	words := make([]string, n)
	for i := range words {
		words[i] = searchVocabulary[z.Uint64()]
	}
	words[0] = strings.ToUpper(words[0][:1]) + words[0][1:]
	return strings.Join(words, " ") + "."
}

// BenchmarkSearch: the first page (20 hits) of a two-word query over
// 100,000 messages of 1,000 histories, their text drawn from a vocabulary of
// about 500 words by Zipf's law, 5 to 60 words each. The queries' words are
// common ("the", "you"), frequent ("order", "refund") or rare.
func BenchmarkSearch(b *testing.B) {
	st := openBench(b, b.TempDir(), "")
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.07, 2, uint64(len(searchVocabulary)-1))
	ctx := context.Background()
	for h := range 1000 {
		msgs := make([]chat.Message, 100)
		for i := range msgs {
			text := searchText(r, z, 5+r.IntN(56))
			if i%2 == 0 {
				msgs[i] = chat.User(text)
			} else {
				msgs[i] = chat.Assistant(text)
			}
		}
		if _, err := st.Write(ctx, fmt.Sprint("user-", h%100, "/chat-", h), msgs); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{"the you", "order refund", "refund declined", "gluten allergy", `"password reset"`, "pass*"} {
		b.Run("query="+q, func(b *testing.B) {
			for b.Loop() {
				if _, err := st.Search(ctx, chatstore.SearchOptions{Query: q, Limit: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("query=order refund,prefix", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.Search(ctx, chatstore.SearchOptions{Query: "order refund", Prefix: "user-7/", Limit: 20}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSecureDelete: what secure_delete (on by default) costs. op=delete
// deletes histories of 20 messages (search on), each a transaction of its
// own; op=write-one is BenchmarkWriteOne's workload, which deletes nothing
// but rewrites pages (the history's row, the search index's segments).
func BenchmarkSecureDelete(b *testing.B) {
	for _, on := range []bool{true, false} {
		param := fmt.Sprint("?secure_delete=", on)
		b.Run(fmt.Sprint("op=delete/secure_delete=", on), func(b *testing.B) {
			st := openBench(b, b.TempDir(), param)
			ctx := context.Background()
			msgs := storebench.Conversation(20)
			var ids []string
			fill := func(n int) {
				b.StopTimer()
				defer b.StartTimer()
				for range n {
					id := fmt.Sprint("h", len(ids))
					if _, err := st.Write(ctx, id, msgs); err != nil {
						b.Fatal(err)
					}
					ids = append(ids, id)
				}
			}
			next := 0
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if next == len(ids) {
					fill(500)
				}
				if err := st.Delete(ctx, ids[next]); err != nil {
					b.Fatal(err)
				}
				next++
			}
		})
		b.Run(fmt.Sprint("op=write-one/secure_delete=", on), func(b *testing.B) {
			storebench.WriteOne(b, openBench(b, b.TempDir(), param), "h")
		})
	}
}
