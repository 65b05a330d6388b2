package shm

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// OwnerOf identifies the running process pid. darwin has no /proc, so the
// start time is unknown (0) and a reused PID is not detected.
func OwnerOf(pid int) (Owner, error) {
	if pid <= 0 || pid > pidMask {
		return Owner{}, fmt.Errorf("invalid PID %d", pid)
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return Owner{}, fmt.Errorf("no process %d", pid)
	}
	return Owner{PID: pid}, nil
}

// Self identifies the calling process.
func Self() (Owner, error) { return OwnerOf(os.Getpid()) }

// Alive reports whether a process with o's PID exists.
func (o Owner) Alive() bool { return !errors.Is(syscall.Kill(o.PID, 0), syscall.ESRCH) }

// startOf is 0: darwin's start times are not recorded (see OwnerOf).
func startOf(pid int) uint32 { return 0 }

// reused is false: without start times a reused PID is not detected.
func (o Owner) reused() bool { return false }
