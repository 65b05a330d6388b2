package sharedstate_test

import (
	"testing"

	"github.com/pkit-sh/pkit/pkg/sharedstate"
	"github.com/pkit-sh/pkit/pkg/sharedstate/statetest"
)

func TestLocalConformance(t *testing.T) {
	// Local locks belong to the process, and both clients are this test's.
	statetest.Run(t, statetest.Options{}, func(t *testing.T) (a, b sharedstate.Store) {
		t.Setenv("PKIT_SHM_DIR", t.TempDir())
		return &sharedstate.Local{}, &sharedstate.Local{}
	})
}
