package natsstate_test

import (
	"testing"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/sharedstate"
	"github.com/pkit-sh/pkit/pkg/sharedstate/natsstate"
	"github.com/pkit-sh/pkit/pkg/sharedstate/statetest"
)

// startServer runs a real embedded JetStream server for the test.
func startServer(t *testing.T, cfg natsserver.Config) *natsserver.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	srv, err := natsserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

func dial(t *testing.T, url string) *natsstate.Store {
	t.Helper()
	s, err := natsstate.Dial(url, queue.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	statetest.Run(t, statetest.Options{Clients: true, Fenced: true}, func(t *testing.T) (a, b sharedstate.Store) {
		srv := startServer(t, natsserver.Config{})
		return dial(t, srv.URL()), dial(t, srv.URL())
	})
}
