package memstore_test

import (
	"testing"

	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
	"github.com/chatstore/chatstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) driver.Store {
		return memstore.New()
	})
}

// TestConformanceRequiredOnly runs the suite on a driver that has only the
// methods every driver must have, so that chatstore.Store's fallbacks for
// the optional ones (driver.Tailer: the portable walk over pages of Range)
// are held to the same rules.
func TestConformanceRequiredOnly(t *testing.T) {
	storetest.Run(t, func(t *testing.T) driver.Store {
		return struct{ driver.Store }{memstore.New()}
	})
}
