//go:build !linux

package listen

import (
	"os"
	"syscall"
	"time"
)

// procAttr puts each handler in its own process group, so a timeout or
// shutdown reaches everything it started.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// waitExited cannot wait without reaping here; the caller then skips
// signalling the handler's group after it exits.
func waitExited(pid int) bool { return false }

// tcpCounters needs Linux's TCP_INFO; elsewhere bytes are not counted and
// --idle is refused.
func tcpCounters(f *os.File) (in, out int64, idle time.Duration, ok bool) { return 0, 0, 0, false }
