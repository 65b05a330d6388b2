package ppool

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAwait runs jobs on a stdin fed by await, with the leader's pidfd
// and without one (as on systems that have none), and checks what each
// job read and that it was reaped.
func TestAwait(t *testing.T) {
	runtime.LockOSThread() // the parent-death signal watches this thread
	defer runtime.UnlockOSThread()
	dir := t.TempDir()
	data := make([]byte, 3<<20+12345) // more than a pipe holds
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	file := filepath.Join(dir, "in")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	const off = 777
	cases := []struct {
		name  string
		argv  []string
		block *pipeIn
		copy  bool // as where the file system refuses splice
		want  []byte
	}{
		{"data", []string{"cat"}, &pipeIn{header: []byte("h\n"), data: data}, false, append([]byte("h\n"), data...)},
		{"range", []string{"cat"}, &pipeIn{file: in, off: off, n: int64(len(data) - off)}, false, data[off:]},
		{"range by copy", []string{"cat"}, &pipeIn{file: in, off: off, n: int64(len(data) - off)}, true, data[off:]},
		{"job reads nothing", []string{"true"}, &pipeIn{data: data}, false, nil},
		{"job stops reading", []string{"head", "-c", "10"}, &pipeIn{data: data}, false, data[:10]},
	}
	for _, c := range cases {
		for _, withPidfd := range []bool{true, false} {
			name := c.name
			if !withPidfd {
				name += ", no pidfd"
			}
			t.Run(name, func(t *testing.T) {
				var fed atomic.Int64
				f, rd, err := newFeed(c.block, &fed)
				if err != nil {
					t.Fatal(err)
				}
				f.copyRanges = c.copy
				out, err := os.Create(filepath.Join(t.TempDir(), "out"))
				if err != nil {
					t.Fatal(err)
				}
				defer out.Close()
				path, err := exec.LookPath(c.argv[0])
				if err != nil {
					t.Fatal(err)
				}
				pidfd := -1
				pid, err := syscall.ForkExec(path, c.argv, &syscall.ProcAttr{
					Files: []uintptr{uintptr(rd), out.Fd(), 2},
					Sys:   jobAttr(&pidfd),
				})
				unix.Close(rd)
				if err != nil {
					t.Fatal(err)
				}
				if !withPidfd && pidfd >= 0 {
					unix.Close(pidfd)
					pidfd = -1
				}
				ws := await(pid, pidfd, f)
				if !ws.Exited() || ws.ExitStatus() != 0 {
					t.Fatalf("job ended with %v", ws)
				}
				if f.open() {
					t.Error("the feed is still open")
				}
				got, err := os.ReadFile(out.Name())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, c.want) {
					t.Errorf("the job read %d bytes, want %d", len(got), len(c.want))
				}
				if c.want != nil && len(c.want) > 10 && fed.Load() != c.block.blockSize() {
					t.Errorf("fed %d bytes, want %d", fed.Load(), c.block.blockSize())
				}
			})
		}
	}
}
