package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/pgstore"
	"github.com/chatstore/chatstore/storetest"
)

const childEnv = "CHATSTORE_PG_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		if err := child(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child writes N batches of three messages tagged TAG to history "shared",
// after a line on stdin: "URL TAG N".
func child(role string) error {
	args := strings.Fields(role)
	ctx := context.Background()
	st, err := chatstore.Open(ctx, args[0], nil)
	if err != nil {
		return err
	}
	defer st.Close()
	var n int
	fmt.Sscan(args[2], &n)
	return storetest.Child(func() error { return storetest.WriteBatches(ctx, st, "shared", args[1], n) })
}

// storeURL is the test server's URL with the given schema.
func storeURL(t *testing.T, schema string) string {
	u, err := url.Parse(testenv.Get(t, urlEnv, urlExample))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("schema", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestTwoProcessesOneHistory: two processes write one history at once;
// nothing is lost, ids stay unique, each write stays contiguous.
func TestTwoProcessesOneHistory(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	u := storeURL(t, schema)
	const batches = 150
	spans := storetest.RunChildren(t, childEnv, []string{fmt.Sprintf("%s p %d", u, batches), fmt.Sprintf("%s q %d", u, batches)})
	if !storetest.Overlap(spans) {
		t.Fatalf("the children did not write at the same time: %v", spans)
	}
	st, err := chatstore.Open(t.Context(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.RetrieveLast(t.Context(), "shared", chatstore.All)
	if err != nil {
		t.Fatal(err)
	}
	turns := storetest.CheckBatches(t, msgs, []string{"p", "q"}, batches)
	t.Logf("%d messages; the processes took turns %d times", len(msgs), turns)
}

func TestSchemaAndMigration(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	// Several servers starting at once on a new schema.
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
	var version int
	if err := pool.QueryRow(t.Context(), "SELECT version FROM "+pgx.Identifier{schema}.Sanitize()+".chatstore_schema").Scan(&version); err != nil || version != 1 {
		t.Errorf("version %d, %v", version, err)
	}
	// A schema written by a newer chatstore is refused, and left alone.
	if _, err := pool.Exec(t.Context(), "UPDATE "+pgx.Identifier{schema}.Sanitize()+".chatstore_schema SET version = 99"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema}); !errors.Is(err, chatstore.ErrIncompatibleSchema) {
		t.Errorf("newer schema: err = %v", err)
	}
	for _, bad := range []string{"Caps", "1x", "x-y", "x;drop", strings.Repeat("x", 64), "ünï"} {
		if _, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: bad}); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("schema %q: err = %v", bad, err)
		}
	}
}

func TestOpenURL(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	st, err := chatstore.Open(t.Context(), storeURL(t, schema)+"&last_k=3&skip_system_messages=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if o := st.Options(); o.LastK != 3 || !o.KeepSystemMessages {
		t.Errorf("options %+v", o)
	}
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("x")}); err != nil {
		t.Fatal(err)
	}
	var n int
	// SQL users can look inside the JSONB.
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM "+pgx.Identifier{schema}.Sanitize()+".messages WHERE body->>'role' = 'user'").Scan(&n); err != nil || n != 1 {
		t.Errorf("body->>'role': %d, %v", n, err)
	}
	// Credentials never appear in errors.
	for _, u := range []string{"postgres://user:s3cret@127.0.0.1:1/db?connect_timeout=1", "postgres://user:s3cret@127.0.0.1:1/db?schema=Bad"} {
		_, err := chatstore.Open(t.Context(), u, nil)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := chatstore.Open(t.Context(), "postgres://user:s3cret@127.0.0.1:1/db?connect_timeout=1", nil); !errors.Is(err, chatstore.ErrUnavailable) {
		t.Errorf("unreachable server: err = %v, want ErrUnavailable", err)
	}
}

// JSONB cannot hold U+0000; such a message is a clear error, not an outage.
func TestUnstorableContent(t *testing.T) {
	pool := testPool(t)
	s, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: freshSchema(t, pool)})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := chatstore.New(s, nil)
	_, err = st.Write(t.Context(), "h", []chat.Message{chat.User("a\x00b")})
	if !errors.Is(err, chatstore.ErrInvalidMessage) || errors.Is(err, chatstore.ErrUnavailable) {
		t.Errorf("err = %v, want ErrInvalidMessage", err)
	}
	if n, _ := st.Count(t.Context(), "h"); n != 0 {
		t.Errorf("count %d after a failed write", n)
	}
}
