package natsstate_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/natsserver/natstest"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/sharedstate"
	"github.com/pkit-sh/pkit/pkg/sharedstate/natsstate"
	"github.com/pkit-sh/pkit/pkg/sharedstate/statetest"
)

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
		srv := natstest.Start(t, natsserver.Config{})
		return dial(t, srv.URL()), dial(t, srv.URL())
	})
}

// A lease whose key is taken away (here deleted behind its back) is lost
// at its next renewal, and Release says so.
func TestLeaseLostOnConflict(t *testing.T) {
	srv := natstest.Start(t, natsserver.Config{})
	s := dial(t, srv.URL())
	ctx := context.Background()
	l, err := s.Acquire(ctx, "lk", 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.KV().Delete(ctx, "l."+hex.EncodeToString([]byte("lk"))+".0"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("lease not lost after its key was deleted")
	}
	if err := l.Release(); !errors.Is(err, sharedstate.ErrLeaseLost) {
		t.Fatalf("release of a lost lease: %v", err)
	}
}

// A lease that cannot be renewed (the server is gone) is lost once three
// quarters of its TTL have passed without a renewal, before the TTL ends.
func TestLeaseLostUnreachable(t *testing.T) {
	srv := natstest.Start(t, natsserver.Config{})
	s := dial(t, srv.URL())
	const ttl = 2 * time.Second
	l, err := s.Acquire(context.Background(), "lk", 0, ttl)
	if err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	srv.Shutdown()
	select {
	case <-l.Lost():
		if d := time.Since(cut); d >= ttl {
			t.Fatalf("lost %v after the cut, not before the TTL %v", d, ttl)
		}
	case <-time.After(ttl + 5*time.Second):
		t.Fatal("lease not lost with the server gone")
	}
}

// Fencing tokens grow across holders and across a restart of the server
// with its store.
func TestFenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.Start(t, natsserver.Config{StoreDir: dir})
	url := srv.URL()
	s := dial(t, url)
	ctx := context.Background()
	l, err := s.Acquire(ctx, "lk", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := l.Fence()
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	srv.Shutdown()
	srv = natstest.Start(t, natsserver.Config{StoreDir: dir, Listen: strings.TrimPrefix(url, "nats://")})
	s = dial(t, srv.URL())
	l, err = s.Acquire(ctx, "lk", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.Fence() <= first {
		t.Fatalf("fence %d after the restart, %d before", l.Fence(), first)
	}
}
