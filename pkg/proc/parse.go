package proc

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// parseStatusUID finds the effective UID, the second number of the "Uid:"
// line, in the contents of /proc/PID/status.
func parseStatusUID(b []byte) (int, error) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if rest, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			f := bytes.Fields(rest)
			if len(f) < 2 {
				break
			}
			return strconv.Atoi(string(f[1]))
		}
	}
	return -1, fmt.Errorf("%w: no Uid line in status", ErrMalformed)
}

// parseExecStart finds "se.exec_start : 6790720.816032" (milliseconds) in
// the contents of /proc/PID/sched.
func parseExecStart(b []byte) (time.Duration, error) {
	_, after, ok := bytes.Cut(b, []byte("\nse.exec_start"))
	if !ok {
		return 0, fmt.Errorf("%w: no se.exec_start", ErrMalformed)
	}
	if i := bytes.IndexByte(after, '\n'); i >= 0 {
		after = after[:i]
	}
	_, value, ok := bytes.Cut(after, []byte(":"))
	if !ok {
		return 0, fmt.Errorf("%w: se.exec_start without a value", ErrMalformed)
	}
	ms, err := strconv.ParseFloat(string(bytes.TrimSpace(value)), 64)
	if err != nil || !(ms >= 0 && ms <= float64(math.MaxInt64/int64(time.Millisecond))) {
		return 0, fmt.Errorf("%w: se.exec_start %q", ErrMalformed, bytes.TrimSpace(value))
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// parseIO reads the read_bytes and write_bytes lines of /proc/PID/io.
func parseIO(b []byte) (IO, error) {
	var io IO
	found := 0
	for line := range bytes.Lines(b) {
		name, value, ok := bytes.Cut(bytes.TrimSpace(line), []byte(": "))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(name) {
		case "read_bytes":
			dst = &io.ReadBytes
		case "write_bytes":
			dst = &io.WriteBytes
		default:
			continue
		}
		v, ok := parseUint(value)
		if !ok {
			return IO{}, fmt.Errorf("%w: io %s %q", ErrMalformed, name, value)
		}
		*dst = v
		found++
	}
	if found < 2 {
		return IO{}, fmt.Errorf("%w: no read_bytes and write_bytes in io", ErrMalformed)
	}
	return io, nil
}

// parseCgroup returns the path of the cgroup v2 ("0::") line of
// /proc/PID/cgroup, "" when there is none.
func parseCgroup(b []byte) string {
	for line := range bytes.Lines(b) {
		if path, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			return string(bytes.TrimRight(path, "\n"))
		}
	}
	return ""
}
