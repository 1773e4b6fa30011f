package pgstore_test

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/proctest"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/pgstore"
)

const childEnv = "CHATSTORE_PG_CHILD"

func TestMain(m *testing.M) { proctest.Main(m, childEnv, childRole) }

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
	turns := proctest.TwoWriters(t, childEnv, storeURL(t, freshSchema(t, pool)), 150)
	t.Logf("the processes took turns %d times", turns)
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
	if err := pool.QueryRow(t.Context(), "SELECT version FROM "+pgx.Identifier{schema}.Sanitize()+".chatstore_schema").Scan(&version); err != nil || version != pgstore.SchemaVersion {
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

// TestOpenSchemaParameter: Open, called directly, reads schema= from the
// connection string, URL or key=value, as chatstore.Open does (it overrides
// Options.Schema), and keeps it from pgx, which would send it to the server
// as a run-time setting: the server would refuse the connection, and the
// tables would land in the default schema.
func TestOpenSchemaParameter(t *testing.T) {
	pool := testPool(t)
	u, err := url.Parse(testenv.Get(t, urlEnv, urlExample))
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{"url", "key=value"} {
		t.Run(form, func(t *testing.T) {
			schema := freshSchema(t, pool)
			q := u.Query()
			q.Set("schema", schema)
			conn := *u
			conn.RawQuery = q.Encode()
			connString := conn.String()
			if form == "key=value" {
				connString = keyValue(&conn)
			}
			s, err := pgstore.Open(t.Context(), connString, &pgstore.Options{Schema: "not_this_one"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if v, ok := pgstore.RuntimeParams(s)["schema"]; ok {
				t.Errorf("schema=%q is sent to the server as a run-time setting", v)
			}
			st, err := chatstore.New(s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("x")}); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM "+pgx.Identifier{schema}.Sanitize()+".messages").Scan(&n); err != nil || n != 1 {
				t.Errorf("messages in schema %s: %d, %v", schema, n, err)
			}
		})
	}
	// The store-wide parameters are chatstore.Open's; pgx would send them
	// to the server too.
	for k, v := range map[string]string{"last_k": "3", "skip_system_messages": "false"} {
		q := u.Query()
		q.Set(k, v)
		conn := *u
		conn.RawQuery = q.Encode()
		if _, err := pgstore.Open(t.Context(), conn.String(), nil); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("%s=%s: err = %v, want ErrInvalidOptions", k, v, err)
		}
	}
}

// keyValue writes a postgres:// URL in libpq's key=value form.
func keyValue(u *url.URL) string {
	kv := []string{"host=" + u.Hostname(), "user=" + u.User.Username(), "dbname=" + strings.TrimPrefix(u.Path, "/")}
	if p := u.Port(); p != "" {
		kv = append(kv, "port="+p)
	}
	if pw, ok := u.User.Password(); ok {
		kv = append(kv, "password="+pw)
	}
	for k, vs := range u.Query() {
		kv = append(kv, k+"="+vs[len(vs)-1])
	}
	return strings.Join(kv, " ")
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
