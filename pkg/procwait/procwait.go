// Package procwait waits for arbitrary processes, children or not, without
// sleep loops: pidfds (pidfd_open) waited on with poll(2) on
// Linux, kqueue EVFILT_PROC on darwin. On Linux it also recovers the exit
// status of a process that is not a child, through PIDFD_GET_INFO (kernel
// ≥ 6.15) or, while the process is an unreaped zombie, field 52 of
// /proc/PID/stat.
package procwait

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrGone is returned by Open for a PID that no process has.
var ErrGone = errors.New("no such process")

// Status is how a process ended, as far as it can be known.
type Status struct {
	Known  bool // false when the exit status cannot be learnt
	Code   int  // exit code, when Signal is 0
	Signal syscall.Signal
}

// FromWait converts a wait(2) status word.
func FromWait(ws syscall.WaitStatus) Status {
	if ws.Signaled() {
		return Status{Known: true, Signal: ws.Signal()}
	}
	return Status{Known: true, Code: ws.ExitStatus()}
}

// Python returns the status as Python's Process.exitcode: the exit code, or
// minus the signal number.
func (s Status) Python() int {
	if s.Signal != 0 {
		return -int(s.Signal)
	}
	return s.Code
}

// Shell returns the status as a shell reports it: the exit code, or 128+N
// for signal N.
func (s Status) Shell() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

// ParseSignal accepts a signal as a number, TERM or SIGTERM.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// SignalName returns the short name of sig: TERM, KILL, or the number.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}
