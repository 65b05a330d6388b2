package procwait

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cloneKeeper is in keeper_linux_amd64.s.
//
//go:noescape
func cloneKeeper(flags, stack uintptr, pidfd int32, name *byte) (pid, errno uintptr)

var (
	keeperStack [256]byte // the keeper's stack: static, so nothing ever moves or frees it
	keeperName  [16]byte  // its name, NUL-terminated (TASK_COMM_LEN)
	keeperOnce  sync.Once
	keeperPID   int
	keeperErr   error
)

// DeferTeardown starts, once, a keeper: a process that shares this one's
// memory (clone with CLONE_VM, no Go code runs in it), holds no file but a
// pidfd on this process, and exits only after this process has ended.
//
// When a process exits, the kernel unmaps its address space before telling
// its parent, and for a Go binary that is most of the time from exit(2) to
// the parent's wait returning: hundreds of microseconds, more on a
// virtualised or loaded machine. While the keeper still uses the memory the
// exit skips the unmapping, the parent learns of the exit at once, and the
// keeper, at SCHED_IDLE, pays for it afterwards. The keeper is named name;
// ps shows it with this process's memory, which it shares, not adds to.
// Once orphaned it is reaped by init or the nearest subreaper (a PID 1 that
// never reaps would keep one zombie per use).
//
// It returns the keeper's PID. Where it cannot be done (no pidfd or
// close_range: Linux < 5.9) the process exits as usual.
func DeferTeardown(name string) (int, error) {
	keeperOnce.Do(func() { keeperPID, keeperErr = startKeeper(name) })
	return keeperPID, keeperErr
}

func startKeeper(name string) (int, error) {
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return 0, fmt.Errorf("pidfd_open self: %w", err)
	}
	defer unix.Close(self)
	copy(keeperName[:len(keeperName)-1], name)
	top := (uintptr(unsafe.Pointer(&keeperStack[0])) + uintptr(len(keeperStack))) &^ 15

	// No exit signal: a "clone" child, which wait(2) without __WALL never
	// waits for, so a process that reaps all its children (a subreaper)
	// does not wait for its own keeper. Once reparented, it gets SIGCHLD.
	pid, errno := cloneKeeper(unix.CLONE_VM, top, int32(self), &keeperName[0])
	if errno != 0 {
		return 0, fmt.Errorf("clone keeper: %w", syscall.Errno(errno))
	}
	return int(pid), nil
}
