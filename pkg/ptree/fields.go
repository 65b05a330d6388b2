package ptree

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// field is one column of flat output (-o) and one key of --json.
type field struct {
	name  string
	about string
	text  func(t *table, n *node) string // plain output; "-" when unknown
	json  func(t *table, n *node) any    // JSON value; nil when unknown
}

var pageKiB = int64(os.Getpagesize() / 1024)

// fields lists every column -o accepts, in the order the man page gives.
var fields = []field{
	intField("pid", "process ID", func(n *node) int { return n.PID }),
	intField("ppid", "parent's process ID", func(n *node) int { return n.PPID }),
	intField("pgid", "process group ID", func(n *node) int { return n.PGRP }),
	intField("sid", "session ID", func(n *node) int { return n.Session }),
	intField("tpgid", "foreground process group of its terminal (-1: none)", func(n *node) int { return n.TPGID }),
	{"state", "state letter (see --states)",
		func(t *table, n *node) string { return string(n.State) },
		func(t *table, n *node) any { return string(n.State) }},
	{"stat", "state letter with modifiers, as ps(1) STAT",
		func(t *table, n *node) string { return n.Code() },
		func(t *table, n *node) any { return n.Code() }},
	{"name", "executable name (comm, at most 15 bytes)",
		func(t *table, n *node) string { return printable(n.Comm) },
		func(t *table, n *node) any { return n.Comm }},
	{"user", "effective user name",
		func(t *table, n *node) string { return t.User(n) },
		func(t *table, n *node) any { return unknownIf(t.User(n), "-") }},
	{"uid", "effective user ID",
		func(t *table, n *node) string { return dashIfNegative(t.UID(n)) },
		func(t *table, n *node) any { return nullIfNegative(t.UID(n)) }},
	intField("nice", "nice value", func(n *node) int { return n.Nice }),
	intField("threads", "number of threads", func(n *node) int { return n.NumThreads }),
	intField("rss", "resident memory, KiB", func(n *node) int { return int(n.RSS * pageKiB) }),
	intField("vsz", "virtual memory, KiB", func(n *node) int { return int(n.VSize / 1024) }),
	{"cpu", "CPU use in percent, averaged over its life as ps(1) %CPU",
		func(t *table, n *node) string { return strconv.FormatFloat(t.clock.CPUPercent(n.Stat), 'f', 1, 64) },
		func(t *table, n *node) any { return round(t.clock.CPUPercent(n.Stat), 10) }},
	{"time", "CPU time used, seconds",
		func(t *table, n *node) string { return strconv.FormatFloat(t.clock.CPU(n.Stat).Seconds(), 'f', 2, 64) },
		func(t *table, n *node) any { return t.clock.CPU(n.Stat).Seconds() }},
	{"start", "start time, RFC 3339 in local time",
		func(t *table, n *node) string { return startTime(t, n) },
		func(t *table, n *node) any { return startTime(t, n) }},
	{"etime", "elapsed time since start, whole seconds",
		func(t *table, n *node) string { return strconv.Itoa(int(t.clock.Elapsed(n.Stat).Seconds())) },
		func(t *table, n *node) any { return int(t.clock.Elapsed(n.Stat).Seconds()) }},
	{"children", "children's PIDs, comma-separated",
		func(t *table, n *node) string { return childList(n) },
		func(t *table, n *node) any { return childPIDs(n) }},
	{"cmd", "full command line; [name] when it has none (kernel threads, zombies)",
		func(t *table, n *node) string { return t.Cmd(n) },
		func(t *table, n *node) any { return unknownIf(t.Cmd(n), "-") }},
	{"argv", "command line as a JSON array (plain output: as cmd)",
		func(t *table, n *node) string { return t.Cmd(n) },
		func(t *table, n *node) any {
			if argv := t.Argv(n); argv != nil {
				return argv
			}
			return nil
		}},
}

var (
	flatFields     = []string{"pid", "ppid", "stat", "name"}
	flatLongFields = []string{"pid", "ppid", "stat", "user", "rss", "cpu", "start", "cmd"}
	jsonFields     = []string{"pid", "ppid", "pgid", "sid", "name", "state", "stat", "nice", "threads", "start", "etime", "children"}
	jsonLongFields = append(jsonFields[:len(jsonFields):len(jsonFields)], "user", "uid", "rss", "cpu", "time", "cmd", "argv")
)

// parseFields turns "pid,state" into columns; an unknown name is a usage
// error listing the valid ones.
func parseFields(list string) ([]field, error) {
	var out []field
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		f, ok := lookupField(name)
		if !ok {
			names := make([]string, len(fields))
			for i, f := range fields {
				names[i] = f.name
			}
			return nil, fmt.Errorf("unknown field %q in -o (fields: %s)", name, strings.Join(names, ","))
		}
		out = append(out, f)
	}
	return out, nil
}

func lookupField(name string) (field, bool) {
	for _, f := range fields {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func mustFields(names []string) []field {
	out, err := parseFields(strings.Join(names, ","))
	if err != nil {
		panic(err) // the default lists above name only known fields
	}
	return out
}

func intField(name, about string, get func(*node) int) field {
	return field{name, about,
		func(t *table, n *node) string { return strconv.Itoa(get(n)) },
		func(t *table, n *node) any { return get(n) }}
}

func startTime(t *table, n *node) string {
	return t.clock.Started(n.Stat).Local().Truncate(time.Second).Format(time.RFC3339)
}

func childPIDs(n *node) []int {
	pids := make([]int, len(n.children))
	for i, c := range n.children {
		pids[i] = c.PID
	}
	return pids
}

func childList(n *node) string {
	if len(n.children) == 0 {
		return "-"
	}
	s := make([]string, len(n.children))
	for i, c := range n.children {
		s[i] = strconv.Itoa(c.PID)
	}
	return strings.Join(s, ",")
}

func dashIfNegative(v int) string {
	if v < 0 {
		return "-"
	}
	return strconv.Itoa(v)
}

func nullIfNegative(v int) any {
	if v < 0 {
		return nil
	}
	return v
}

func unknownIf(s, unknown string) any {
	if s == unknown {
		return nil
	}
	return s
}

func round(x, scale float64) float64 { return float64(int64(x*scale+0.5)) / scale }
