package ppool

import "golang.org/x/sys/unix"

// argMax is the limit on the bytes of a new program's arguments and
// environment: on Linux a quarter of the stack limit, at least 128 KiB
// (what `getconf ARG_MAX` prints).
func argMax() int {
	const floor = 128 << 10
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return floor
	}
	return max(int(rl.Cur/4), floor)
}
