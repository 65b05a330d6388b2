package local

import (
	"testing"

	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Backend { return New(t.TempDir(), Options{}) })
}

// Small segments exercise rolling, reading across segments and deleting
// consumed ones.
func TestConformanceSmallSegments(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Backend { return New(t.TempDir(), Options{SegmentSize: 4096}) })
}
