//go:build !linux

package listen

import (
	"os"
	"time"
)

// waitExited cannot wait without reaping here; the caller then skips
// signalling the handler's group after it exits.
func waitExited(pid int) bool { return false }

// tcpCounters needs Linux's TCP_INFO; elsewhere bytes are not counted and
// --idle is refused.
func tcpCounters(f *os.File) (in, out int64, idle time.Duration, ok bool) { return 0, 0, 0, false }
