package proc

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned where /proc does not exist.
var ErrUnsupported = errors.New("not supported on darwin (no /proc)")

// ReadStat is not available on darwin.
func ReadStat(pid int) (Stat, error) {
	return Stat{}, fmt.Errorf("read process %d: %w", pid, ErrUnsupported)
}
