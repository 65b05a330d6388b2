package proc

import "fmt"

// IO is a process's storage I/O counters; darwin does not give them
// without cgo.
type IO struct {
	ReadBytes  uint64
	WriteBytes uint64
}

// ReadIO is not available on darwin.
func ReadIO(pid int) (IO, error) {
	return IO{}, fmt.Errorf("I/O counters of %d: %w", pid, ErrUnsupported)
}

// Wchan is not available on darwin.
func Wchan(pid int) (string, error) {
	return "", fmt.Errorf("wait channel of %d: %w", pid, ErrUnsupported)
}

// Cgroup is "" on darwin, which has no cgroups.
func Cgroup(pid int) (string, error) { return "", nil }

// CountFDs is not available on darwin without libproc.
func CountFDs(pid int) (int, error) {
	return 0, fmt.Errorf("open files of %d: %w", pid, ErrUnsupported)
}

// TTYName names a controlling terminal from kinfo_proc's e_tdev: ttys003
// for the pseudo-terminals (major 16), "" for none.
func TTYName(dev int) string {
	if dev == -1 || dev == 0 {
		return ""
	}
	major, minor := (dev>>24)&0xff, dev&0xffffff
	if major == 16 {
		return fmt.Sprintf("ttys%03d", minor)
	}
	return fmt.Sprintf("%d:%d", major, minor)
}
