package lifetime

import (
	"bufio"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// watchdogEnv marks the watchdog process; its value is the grace period.
const watchdogEnv = "PKIT_LIFETIME_WATCHDOG"

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
	groups := map[int]bool{}
	in := bufio.NewReader(os.NewFile(3, "lifetime"))
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			break
		}
		if len(line) < 3 {
			continue
		}
		pgid, perr := strconv.Atoi(line[1 : len(line)-1])
		if perr != nil || pgid <= 0 {
			continue
		}
		switch line[0] {
		case '+':
			groups[pgid] = true
		case '-':
			delete(groups, pgid)
		}
	}
	pgids := make([]int, 0, len(groups))
	for pgid := range groups {
		pgids = append(pgids, pgid)
	}
	if len(stopGroups(pgids, grace)) > 0 {
		return 1
	}
	return 0
}
