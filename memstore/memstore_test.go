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
