package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/sharedstate/natsstate"
	"github.com/pkit-sh/pkit/pkg/shm"
)

var pshmNatsSuite = Suite{
	Name:  "pshmnats",
	About: "pshm --url on a loopback pqueued: 2x2000 CLI adds vs redis-cli INCR; library add vs a raw KV CAS loop; lock hand-off vs the local futex lock and a raw KV create/delete",
	Run:   benchPshmNats,
}

func benchPshmNats(b *Bench) error {
	srv, err := natsserver.Start(natsserver.Config{Listen: "127.0.0.1:0", StoreDir: b.TempDir()})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	bin := filepath.Join(b.TempDir(), "bin")
	// Static, as released; pshm runs pshm-nats, next to it, for --url.
	for _, pkg := range []string{"./cmd/pshm", "./cmd/pshm-nats"} {
		if err := buildStatic(bin, pkg); err != nil {
			return err
		}
	}
	pshm := filepath.Join(bin, "pshm") + " --url " + srv.URL()
	if err := exec.Command("sh", "-c", pshm+" create c i64").Run(); err != nil {
		return err
	}
	port, stopRedis, err := startRedis(b, b.TempDir())
	if err != nil {
		return err
	}
	defer stopRedis()
	redis := "redis-cli -p " + port
	loop := func(body string) string {
		return fmt.Sprintf(`for p in 1 2; do (i=0; while [ $i -lt 2000 ]; do %s; i=$((i+1)); done) & done; wait`, body)
	}
	check := func(get, reset string) string {
		return fmt.Sprintf(`; n=$(%s); %s; [ "$n" = 4000 ] || { echo "lost updates: $n" >&2; exit 1; }`, get, reset)
	}
	err = b.Compare("2 processes × 2000 increments over loopback", 0,
		Case{Name: "pshm --url add", Runs: 3, Shell: loop(pshm+" add -q c 1") + check(pshm+" get c", pshm+" set c 0"), Base: true},
		Case{Name: "redis-cli INCR", Runs: 3, Needs: []string{"redis-cli"},
			Shell: loop(redis+" INCR c >/dev/null") + check(redis+" GET c", redis+" SET c 0 >/dev/null")},
	)
	if err != nil {
		return err
	}

	var lib, raw []float64
	for run := range b.Runs {
		l, err := libraryAdds(srv.URL(), fmt.Sprintf("lib%d", run))
		if err != nil {
			return err
		}
		r, err := rawCASAdds(srv.URL(), fmt.Sprintf("raw%d", run))
		if err != nil {
			return err
		}
		lib, raw = append(lib, l), append(raw, r)
	}
	b.Report("in-process adds, one client (adds/s)",
		Row{Name: "natsstate Store.Add", Samples: lib, Unit: "adds/s", Note: fmt.Sprintf("%.0f%% of raw", 100*Median(lib)/Median(raw))},
		Row{Name: "raw KV Get+Update(revision)", Samples: raw, Unit: "adds/s", Note: "8-byte value"})

	id := strconv.Itoa(os.Getpid())
	local, err := handoff(id)
	if err != nil {
		return err
	}
	ctx := context.Background()
	storeHandoff, err := kvHandoff(srv.URL(), func(s *natsstate.Store) (func() error, error) {
		l, err := s.Acquire(ctx, "ho", 0, 0)
		if err != nil {
			return nil, err
		}
		return l.Release, nil
	})
	if err != nil {
		return err
	}
	rawHandoff, err := kvHandoff(srv.URL(), func(s *natsstate.Store) (func() error, error) {
		return rawKVLock(ctx, s.KV(), "raw.ho")
	})
	if err != nil {
		return err
	}
	b.Report("lock hand-off between two waiting clients (release to acquisition)",
		Row{Name: "pshm local lock (futex)", Samples: local, Unit: "µs", Note: "two processes"},
		Row{Name: "natsstate Acquire/Release", Samples: storeHandoff, Unit: "µs", Note: "two connections; lease key with TTL, watch wakes the waiter"},
		Row{Name: "raw KV Create/Delete", Samples: rawHandoff, Unit: "µs", Note: "two connections; same watch, no TTL or renewal"})
	return nil
}

const libAdds = 2000

// libraryAdds times libAdds adds through the Store and returns adds/s.
func libraryAdds(url, name string) (float64, error) {
	s, err := natsstate.Dial(url, queue.Auth{})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	ctx := context.Background()
	i64, _ := shm.ParseType("i64")
	if _, err := s.Create(ctx, name, shm.Spec{Kind: shm.KindValue, Type: i64, Len: 1}, false, nil); err != nil {
		return 0, err
	}
	one := shm.Value{Type: i64, Bits: 1}
	start := time.Now()
	for range libAdds {
		if _, err := s.Add(ctx, name, 0, one); err != nil {
			return 0, err
		}
	}
	return libAdds / time.Since(start).Seconds(), nil
}

// rawCASAdds times libAdds compare-and-set increments of an 8-byte key
// with the plain nats.go KV API and returns adds/s.
func rawCASAdds(url, key string) (float64, error) {
	s, err := natsstate.Dial(url, queue.Auth{})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	ctx, kv := context.Background(), s.KV()
	if _, err := kv.Create(ctx, key, make([]byte, 8)); err != nil {
		return 0, err
	}
	start := time.Now()
	for range libAdds {
		for {
			e, err := kv.Get(ctx, key)
			if err != nil {
				return 0, err
			}
			v := binary.LittleEndian.AppendUint64(nil, binary.LittleEndian.Uint64(e.Value())+1)
			if _, err = kv.Update(ctx, key, v, e.Revision()); err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrKeyExists) {
				return 0, err
			}
		}
	}
	return libAdds / time.Since(start).Seconds(), nil
}

// rawKVLock takes key by creating it, watching for its deletion while
// another holds it, and returns the release.
func rawKVLock(ctx context.Context, kv jetstream.KeyValue, key string) (func() error, error) {
	w, err := kv.Watch(ctx, key, jetstream.UpdatesOnly(), jetstream.MetaOnly())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	for {
		rev, err := kv.Create(ctx, key, nil)
		if err == nil {
			return func() error { return kv.Delete(ctx, key, jetstream.LastRevision(rev)) }, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, err
		}
		for e := range w.Updates() {
			if e != nil && e.Operation() != jetstream.KeyValuePut {
				break
			}
		}
	}
}

const kvHandoffRounds = 100

// kvHandoff has two clients, each on its own connection, pass a lock back
// and forth (each holds it 2 ms, so the other is waiting) and returns the
// time from each release to the other's acquisition, in µs.
func kvHandoff(url string, lock func(s *natsstate.Store) (release func() error, err error)) ([]float64, error) {
	var mu sync.Mutex
	var released time.Time
	var lat []float64
	turns := 0
	errs := make(chan error, 2)
	for range 2 {
		s, err := natsstate.Dial(url, queue.Auth{})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		go func() {
			for {
				release, err := lock(s)
				if err != nil {
					errs <- err
					return
				}
				now := time.Now()
				mu.Lock()
				if !released.IsZero() {
					lat = append(lat, float64(now.Sub(released).Microseconds()))
				}
				turns++
				mine, done := turns, turns > kvHandoffRounds
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				released = time.Now()
				mu.Unlock()
				if err := release(); err != nil || done {
					errs <- err
					return
				}
				// Queue again only once the other side has it, so that
				// each release wakes a waiter.
				for {
					mu.Lock()
					t := turns
					mu.Unlock()
					if t != mine {
						break
					}
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}
	var first error
	for range 2 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return lat, first
}
