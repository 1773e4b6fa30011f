package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/sqlitestore"
	"github.com/chatstore/chatstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) driver.Store {
		s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "chat.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
