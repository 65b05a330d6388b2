package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// OwnerOf identifies the running process pid.
func OwnerOf(pid int) (Owner, error) {
	if pid <= 0 || pid > pidMask {
		return Owner{}, fmt.Errorf("invalid PID %d", pid)
	}
	s, err := proc.ReadStat(pid)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Owner{}, fmt.Errorf("no process %d", pid)
		}
		return Owner{}, fmt.Errorf("process %d: %w", pid, err)
	}
	if s.State == 'Z' || s.State == 'X' {
		return Owner{}, fmt.Errorf("process %d has exited", pid)
	}
	return Owner{PID: pid, Start: uint32(s.StartTime)}, nil
}

// Self identifies the calling process.
func Self() (Owner, error) { return OwnerOf(os.Getpid()) }

// Alive reports whether o still runs: the PID exists, is not a zombie, and
// (when o.Start is known) started at the same time, so a reused PID counts
// as dead.
func (o Owner) Alive() bool {
	s, err := proc.ReadStat(o.PID)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) // unreadable but present: assume alive
	}
	if s.State == 'Z' || s.State == 'X' {
		return false
	}
	return o.Start == 0 || uint32(s.StartTime) == o.Start
}

// startOf is the start time of process pid, zombie or not (0 if unknown).
func startOf(pid int) uint32 {
	s, err := proc.ReadStat(pid)
	if err != nil {
		return 0
	}
	return uint32(s.StartTime)
}

// reused reports whether o's PID now names another running process.
func (o Owner) reused() bool {
	s, err := proc.ReadStat(o.PID)
	return err == nil && s.State != 'Z' && s.State != 'X' && o.Start != 0 && uint32(s.StartTime) != o.Start
}
