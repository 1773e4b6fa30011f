package redisstore_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/proctest"
	"github.com/chatstore/chatstore/internal/testenv"
)

// TestServerRestart kills Redis during a write loop and starts it again:
// the loop sees ErrUnavailable meanwhile, then succeeds on the same Store,
// and every acknowledged write is there afterwards.
func TestServerRestart(t *testing.T) {
	bin := testenv.Get(t, "CHATSTORE_TEST_REDIS_SERVER", "/usr/bin/redis-server")
	srv := testenv.StartRedis(t, bin)
	st, err := chatstore.Open(t.Context(), "redis://"+srv.Addr()+"/0?dial_timeout=200ms&read_timeout=1s&max_retries=-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var acked []string
	failures, afterRestart := 0, 0
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; afterRestart < 50; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("gave up: %d acked, %d failures, %d writes after the restart", len(acked), failures, afterRestart)
		}
		if i == 50 {
			srv.Stop()
		}
		tag := fmt.Sprint("m", i)
		_, err := st.Write(t.Context(), "h", []chat.Message{chat.User(tag)})
		switch {
		case err == nil:
			acked = append(acked, tag)
			if i > 50 {
				afterRestart++
			}
		case errors.Is(err, chatstore.ErrUnavailable):
			if failures++; failures == 3 {
				srv.Start() // down long enough to be seen; bring it back
			}
		default:
			t.Fatalf("write %d: an error that does not say the store is unavailable: %v", i, err)
		}
	}
	if failures < 3 {
		t.Errorf("only %d writes failed while Redis was down", failures)
	}
	proctest.CheckAcked(t, st, "h", acked)
	t.Logf("%d acknowledged writes, %d failed while Redis was down, all acknowledged ones present", len(acked), failures)
}
