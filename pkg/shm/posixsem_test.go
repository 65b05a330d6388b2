package shm

import (
	"context"
	"encoding/binary"
	"os"
	"testing"
	"time"
)

// TestPosixSem checks the glibc layout and the post/wait protocol.
func TestPosixSem(t *testing.T) {
	isolate(t)
	s, err := CreatePosixSem("t", 2, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer Remove(PosixSemFile("t"))
	defer s.Close()
	raw, _ := os.ReadFile(s.path())
	if len(raw) != 32 || binary.LittleEndian.Uint64(raw) != 2 || binary.LittleEndian.Uint32(raw[8:]) != 128 {
		t.Fatalf("layout % x", raw)
	}
	if !s.TryWait() || !s.TryWait() || s.TryWait() {
		t.Fatal("trywait did not take exactly 2")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := s.Wait(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Wait on 0 = %v", err)
	}
	if v, w := s.Value(); v != 0 || w != 0 {
		t.Fatalf("after timeout: value %d, waiters %d", v, w)
	}
	done := make(chan error)
	go func() { done <- s.Wait(context.Background()) }()
	for _, w := s.Value(); w == 0; _, w = s.Value() {
		time.Sleep(time.Millisecond)
	}
	if err := s.Post(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, w := s.Value(); v != 0 || w != 0 {
		t.Fatalf("after wake: value %d, waiters %d", v, w)
	}
	again, err := CreatePosixSem("t", 5, 0o600) // exists: opened unchanged
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if v, _ := again.Value(); v != 0 {
		t.Errorf("re-create changed the value to %d", v)
	}
}

func (s *PosixSem) path() string { p, _ := PathOf(PosixSemFile(s.Name)); return p }
