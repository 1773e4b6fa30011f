package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore/chat"
)

// TestProbeSearchBadInputIsNot500 (review probe): filters a client can
// send answer 200 or 400, never 500. On SQLite, role=user,user,… with more
// roles than SQLite's 32,766 variables fails the statement ("too many SQL
// variables"); on PostgreSQL, a metadata filter holding NUL fails in the
// database (text cannot hold it).
func TestProbeSearchBadInputIsNot500(t *testing.T) {
	stores := map[string]string{"sqlite": "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "p.db")) + "?"}
	if u := os.Getenv("CHATSTORE_TEST_POSTGRES_URL"); u != "" {
		stores["postgres"] = u + "&schema=chatstore_probe_search_nul"
	}
	for name, u := range stores {
		t.Run(name, func(t *testing.T) {
			if name == "postgres" {
				t.Cleanup(func() {
					conn, err := pgx.Connect(context.Background(), os.Getenv("CHATSTORE_TEST_POSTGRES_URL"))
					if err == nil {
						conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS chatstore_probe_search_nul CASCADE")
						conn.Close(context.Background())
					}
				})
			}
			f := newFixture(t, u, nil)
			if r := f.do("POST", messagesPath("h"), body(chat.User("refund"))); r.code != 200 {
				t.Fatalf("%d %s", r.code, r.body)
			}
			for _, q := range []string{
				"q=refund&role=" + strings.TrimSuffix(strings.Repeat("user,", 40000), ","),
				"q=refund&metadata[a]=%00",
				"q=refund&metadata[a%00b]=c",
			} {
				if r := f.do("GET", "/v1/search?"+q, ""); r.code >= 500 {
					t.Errorf("%.80s…: %d %s", q, r.code, r.body)
				}
			}
		})
	}
}
