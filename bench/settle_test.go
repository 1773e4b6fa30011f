package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chatstore/chatstore/internal/testenv"
	_ "github.com/chatstore/chatstore/pgstore"
)

// TestSettleSQLite: settling writes the WAL back to the file and empties
// it, so the next run starts with none of the last one's frames.
func TestSettleSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.db")
	raw, err := OpenRaw(t.Context(), "sqlite:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(t.Context())
	if err := raw.db.append(t.Context(), "h", [][]byte{[]byte(`{"role":"user","content":[{"text":"hi"}]}`)}); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if size() == 0 {
		t.Fatal("the write left no WAL to settle")
	}
	if err := raw.db.settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := size(); n != 0 {
		t.Errorf("the WAL holds %d bytes after settling", n)
	}
}

// TestSettlePostgres: settling runs a checkpoint.
func TestSettlePostgres(t *testing.T) {
	url := testenv.PostgresSchema(t, testenv.Get(t, "CHATSTORE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"))
	raw, err := OpenRaw(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(t.Context())
	pg := raw.db.(*rawPG)
	count := func() (n int64) {
		if err := pg.pool.QueryRow(t.Context(), `SELECT checkpoints_req FROM pg_stat_bgwriter`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	if err := raw.db.settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if pg.cannotCheckpoint {
		t.Skip("the test database's user may not run CHECKPOINT")
	}
	if after := count(); after <= before {
		t.Errorf("checkpoints requested: %d before settling, %d after", before, after)
	}
}
