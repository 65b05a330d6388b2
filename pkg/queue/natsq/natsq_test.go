package natsq_test

import (
	"strings"
	"testing"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/natsserver/natstest"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
	"github.com/pkit-sh/pkit/pkg/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Backend {
		// The known gaps of the JetStream mapping, documented in
		// pqueue(1).
		switch {
		case strings.HasSuffix(t.Name(), "/StaleLease"):
			t.Skip("JetStream accepts an ack from an earlier delivery of the same item")
		case strings.HasSuffix(t.Name(), "/DelayedNackStats"):
			t.Skip("JetStream keeps an item given back with a delay pending, counted as leased, until the delay ends")
		}
		srv := natstest.Start(t, natsserver.Config{})
		b, err := natsq.Dial(srv.URL(), queue.Auth{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
