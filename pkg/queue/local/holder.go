package local

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// startTime identifies process pid across PID reuse.
func startTime(pid int) (uint64, error) {
	s, err := proc.ReadStat(pid)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("no process %d", pid)
		}
		return 0, err
	}
	if s.State == 'Z' || s.State == 'X' {
		return 0, fmt.Errorf("process %d has exited", pid)
	}
	return s.StartTime, nil
}

// alive reports whether the lease holder still runs: its PID exists, is not
// a zombie, and started when the holder did (a reused PID counts as dead).
func alive(h holder) bool {
	if h.PID == 0 {
		return true
	}
	s, err := proc.ReadStat(int(h.PID))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) // present but unreadable: assume alive
	}
	return s.State != 'Z' && s.State != 'X' && s.StartTime == h.Start
}
