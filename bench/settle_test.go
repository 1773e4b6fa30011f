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

// TestSettlePostgres: settling runs a checkpoint: the last one's place in
// the WAL moves (CHECKPOINT forces one even with nothing written since).
func TestSettlePostgres(t *testing.T) {
	url := testenv.PostgresSchema(t, testenv.Get(t, "CHATSTORE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"))
	raw, err := OpenRaw(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(t.Context())
	pg := raw.db.(*rawPG)
	last := func() (lsn string) {
		if err := pg.pool.QueryRow(t.Context(), `SELECT checkpoint_lsn::text FROM pg_control_checkpoint()`).Scan(&lsn); err != nil {
			t.Fatal(err)
		}
		return lsn
	}
	before := last()
	if err := raw.db.settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !raw.Settles() {
		t.Skip("the test database's user may not run CHECKPOINT")
	}
	if after := last(); after == before {
		t.Errorf("the last checkpoint is still at %s after settling", after)
	}
}
