package pspawn

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestRotLog: the log and LOG.1 together hold the last half to whole of
// the limit, in order, however the writes are cut.
func TestRotLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j1.log")
	l, err := newRotLog(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := range 500 {
		line := fmt.Sprintf("line %d\n", i)
		all.WriteString(line)
		if _, err := l.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.ReadFile(path + ".1")
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kept := append(old, cur...)
	if len(kept) < 500 || len(kept) > 1000 || !bytes.HasSuffix(all.Bytes(), kept) {
		t.Fatalf("kept %d bytes (%d in .1): %q", len(kept), len(old), kept)
	}
}

// TestRotLogChunks: writes of any size leave the log and LOG.1 as writes
// of one byte at a time do (whole halves skipped, not rotated through).
func TestRotLogChunks(t *testing.T) {
	var all bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&all, "%d\n", i)
	}
	want := func(size int) (string, string) {
		path := filepath.Join(t.TempDir(), "j.log")
		l, err := newRotLog(path, 100)
		if err != nil {
			t.Fatal(err)
		}
		b := all.Bytes()
		for len(b) > 0 {
			n := min(size, len(b))
			if _, err := l.Write(b[:n]); err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
		old, _ := os.ReadFile(path + ".1")
		cur, _ := os.ReadFile(path)
		return string(old), string(cur)
	}
	old1, cur1 := want(1)
	for _, size := range []int{49, 50, 51, 99, 100, 101, 150, 4096, all.Len()} {
		if old, cur := want(size); old != old1 || cur != cur1 {
			t.Errorf("writes of %d: .1 %q, log %q; want %q, %q", size, old, cur, old1, cur1)
		}
	}
}

// TestRotLogAlwaysThere: a reader opening the log while it rotates always
// finds it, and LOG.1 once it exists.
func TestRotLogAlwaysThere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	l, err := newRotLog(path, 64)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(bytes.Repeat([]byte("x"), 64)) // LOG.1 exists from here on
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			l.Write([]byte("a line of output\n"))
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		for _, p := range []string{path, path + ".1"} {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
}
