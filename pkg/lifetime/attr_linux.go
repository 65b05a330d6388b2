package lifetime

import (
	"os"
	"syscall"
)

// Attr returns the process attributes of a job: a process group of its own,
// and on Linux the kernel's TERM to the leader if the thread that started
// it dies, which covers the moment before Add registers the group. TERM,
// not KILL: once registered, the leader gets the grace period like every
// member, and the watchdog's KILL follows. Callers may set further fields
// (a pidfd, a terminal) on the result.
func Attr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// executable is the path to exec for the watchdog: /proc/self/exe works
// even after the binary has been replaced or removed by an upgrade.
func executable() (string, error) {
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		return os.Executable()
	}
	return "/proc/self/exe", nil
}
