package loadtest_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/loadtest"
	"github.com/chatstore/chatstore/internal/testenv"
	_ "github.com/chatstore/chatstore/pgstore"
	_ "github.com/chatstore/chatstore/redisstore"
)

// The outages of the stores under a chatstore server. They live here, not
// in the stores' packages, which do not reach the server: those test the
// same outages at the Store level (TestServerRestart).

// TestPostgresOutage restarts PostgreSQL under a chatstore server taking
// writes from 32 clients: the server answers 503 while the database is
// down, 2xx again within seconds of it being back, without a restart of its
// own, and loses no acknowledged write.
func TestPostgresOutage(t *testing.T) {
	base := testenv.Get(t, "CHATSTORE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	restart := testenv.Get(t, "CHATSTORE_TEST_POSTGRES_RESTART", "pg_ctlcluster --skip-systemctl-redirect 15 main restart")
	st := open(t, testenv.PostgresSchema(t, base))
	restarted := make(chan error, 1)
	loadtest.StoreOutage(t, st, func() {
		go func() {
			cmd := exec.Command("sh", "-c", restart)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			restarted <- cmd.Run()
		}()
	}, func() {
		if err := <-restarted; err != nil {
			t.Fatalf("restarting PostgreSQL: %v", err)
		}
	})
}

// TestRedisOutage kills a Redis of the test's own under a chatstore server
// taking writes from 32 clients and starts it again, with the same checks.
func TestRedisOutage(t *testing.T) {
	srv := testenv.StartRedis(t, testenv.Get(t, "CHATSTORE_TEST_REDIS_SERVER", "/usr/bin/redis-server"))
	// The client's defaults: how a server would be configured.
	loadtest.StoreOutage(t, open(t, "redis://"+srv.Addr()+"/0"), srv.Stop, srv.Start)
}

func open(t *testing.T, url string) *chatstore.Store {
	t.Helper()
	st, err := chatstore.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
