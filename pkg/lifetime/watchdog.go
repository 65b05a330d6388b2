package lifetime

import (
	"bytes"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// watchdogEnv marks the watchdog process; its value is the grace period.
const watchdogEnv = "PKIT_LIFETIME_WATCHDOG"

// drainEvery is how often the watchdog empties its pipe while the tool
// lives. It does not wake for each line: it sleeps until the tool has gone
// (the pipe's hang-up) or drainEvery has passed, so that a tool starting
// many jobs a second does not wake it for each. The pipe holds 64 KiB of
// lines (thousands of groups) between two drains; a tool that fills it
// waits in its write for the next.
const drainEvery = 50 * time.Millisecond

// The watchdog is the tool's own binary, so every binary that links this
// package (each tool, and each test binary that starts jobs) must be able
// to become one before doing anything else. An init function does that
// without a call in every main: a forgotten call would make a test binary
// run its tests again as the "watchdog".
func init() {
	if grace, ok := os.LookupEnv(watchdogEnv); ok {
		os.Exit(watch(grace))
	}
}

// watch is the watchdog's main. It reads "+PGID" and "-PGID" lines from
// descriptor 3 until end of file, then stops the groups still registered.
func watch(graceText string) int {
	// Signals that end the tool (a terminal's INT, a kill of the tool's
	// name) must not end its watchdog with it.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	grace, err := time.ParseDuration(graceText)
	if err != nil {
		grace = 5 * time.Second
	}
	const fd = 3
	groups := map[int]bool{}
	// Should this fail, reads block: the watchdog wakes for each write.
	_ = unix.SetNonblock(fd, true)
	drain(fd, groups)
	pgids := make([]int, 0, len(groups))
	for pgid := range groups {
		pgids = append(pgids, pgid)
	}
	if len(stopGroups(pgids, grace)) > 0 {
		return 1
	}
	return 0
}

// drain reads the lines of descriptor fd into groups until end of file,
// reading what has come every drainEvery and when the writer hangs up. A
// poll for no event returns on the hang-up (and on errors) only: the
// tool's writes do not wake it. Once a drain finds nothing new, the
// watchdog sleeps until the next write instead: a tool whose jobs run for
// days (a supervisor) does not wake it every drainEvery.
func drain(fd int, groups map[int]bool) {
	buf := make([]byte, 0, 64<<10)
	idle := false
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // a line longer than the buffer: grow it
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case n > 0:
			buf = apply(buf[:len(buf)+n], groups)
			idle = false
		case err == unix.EAGAIN && idle:
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
		case err == unix.EAGAIN:
			unix.Poll([]unix.PollFd{{Fd: int32(fd)}}, int(drainEvery/time.Millisecond))
			idle = true
		case err != unix.EINTR: // end of file (the tool has gone) or a failure
			return
		}
	}
}

// apply applies the whole lines of b to groups and returns what is left of
// b (the start of a line still to come), moved to the start of b.
func apply(b []byte, groups map[int]bool) []byte {
	rest := b
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := rest[:i]
		rest = rest[i+1:]
		if len(line) < 2 {
			continue
		}
		pgid, err := strconv.Atoi(string(line[1:]))
		if err != nil || pgid <= 0 {
			continue
		}
		switch line[0] {
		case '+':
			groups[pgid] = true
		case '-':
			delete(groups, pgid)
		}
	}
	return b[:copy(b, rest)]
}
