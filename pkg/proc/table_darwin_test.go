package proc

import (
	"os"
	"testing"
	"unsafe"
)

// TestTaskInfo: struct proc_taskinfo is 96 bytes, and this process has a
// resident size, a thread count and CPU time.
func TestTaskInfo(t *testing.T) {
	if n := unsafe.Sizeof(procTaskInfo{}); n != 96 {
		t.Fatalf("procTaskInfo is %d bytes, proc_taskinfo 96", n)
	}
	for range 1_000_000 { // use some CPU time
	}
	s, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.NumThreads < 2 || s.VSize == 0 {
		t.Errorf("got %+v", s)
	}
}
