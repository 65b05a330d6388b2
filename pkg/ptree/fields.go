package ptree

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// field is one column of flat output (-o), one key of --json and one key
// of --sort.
type field struct {
	name  string
	key   string // JSON key, when name is not one (%cpu)
	about string
	text  func(t *table, n *node) string          // plain output; "-" when unknown
	json  func(t *table, n *node) any             // JSON value; nil when unknown
	num   func(t *table, n *node) (float64, bool) // --sort order; nil: by text
	fetch func(t *table, n *node)                 // reads what text needs, for prefetch
	rate  bool                                    // measured over the interval
}

// jsonKey returns f's key in JSON objects.
func (f field) jsonKey() string {
	if f.key != "" {
		return f.key
	}
	return f.name
}

var pageKiB = int64(os.Getpagesize() / 1024)

// fields lists every column -o accepts, in the order the man page gives.
var fields = []field{
	intField("pid", "process ID", func(n *node) int { return n.PID }),
	intField("ppid", "parent's process ID", func(n *node) int { return n.PPID }),
	intField("pgid", "process group ID", func(n *node) int { return n.PGRP }),
	intField("sid", "session ID", func(n *node) int { return n.Session }),
	intField("tpgid", "foreground process group of its terminal (-1: none)", func(n *node) int { return n.TPGID }),
	{name: "state", about: "state letter (see --states)",
		text: func(t *table, n *node) string { return string(n.State) },
		json: func(t *table, n *node) any { return string(n.State) }},
	{name: "stat", about: "state letter with modifiers, as ps(1) STAT",
		text: func(t *table, n *node) string { return n.Code() },
		json: func(t *table, n *node) any { return n.Code() }},
	{name: "name", about: "executable name (comm, at most 15 bytes)",
		text: func(t *table, n *node) string { return printable(n.Comm) },
		json: func(t *table, n *node) any { return n.Comm }},
	{name: "user", about: "effective user name",
		text:  func(t *table, n *node) string { return t.User(n) },
		json:  func(t *table, n *node) any { return unknownIf(t.User(n), "-") },
		fetch: func(t *table, n *node) { t.UID(n) }},
	{name: "uid", about: "effective user ID",
		text:  func(t *table, n *node) string { return dashIfNegative(t.UID(n)) },
		json:  func(t *table, n *node) any { return nullIfNegative(t.UID(n)) },
		num:   func(t *table, n *node) (float64, bool) { return float64(t.UID(n)), t.UID(n) >= 0 },
		fetch: func(t *table, n *node) { t.UID(n) }},
	intField("nice", "nice value", func(n *node) int { return n.Nice }),
	intField("threads", "number of threads", func(n *node) int { return n.NumThreads }),
	intField("rss", "resident memory, KiB", func(n *node) int { return int(n.RSS * pageKiB) }),
	intField("vsz", "virtual memory, KiB", func(n *node) int { return int(n.VSize / 1024) }),
	floatField("cpu", "", "CPU use in percent, averaged over its life as ps(1) %CPU", 1,
		func(t *table, n *node) (float64, bool) { return t.clock.CPUPercent(n.Stat), true }),
	floatField("%cpu", "pcpu", "CPU use in percent over the interval (--interval, each refresh of -w); 100 is one core", 1, (*table).CPUNow),
	floatField("%mem", "pmem", "resident memory in percent of physical memory", 1, (*table).MemPercent),
	{name: "time", about: "CPU time used, seconds",
		text: func(t *table, n *node) string { return strconv.FormatFloat(t.clock.CPU(n.Stat).Seconds(), 'f', 2, 64) },
		json: func(t *table, n *node) any { return t.clock.CPU(n.Stat).Seconds() },
		num:  func(t *table, n *node) (float64, bool) { return t.clock.CPU(n.Stat).Seconds(), true }},
	{name: "start", about: "start time, RFC 3339 in local time",
		text: func(t *table, n *node) string { return startTime(t, n) },
		json: func(t *table, n *node) any { return startTime(t, n) },
		num:  func(t *table, n *node) (float64, bool) { return float64(n.StartTime), true }},
	{name: "etime", about: "elapsed time since start, whole seconds",
		text: func(t *table, n *node) string { return strconv.Itoa(int(t.clock.Elapsed(n.Stat).Seconds())) },
		json: func(t *table, n *node) any { return int(t.clock.Elapsed(n.Stat).Seconds()) },
		num:  func(t *table, n *node) (float64, bool) { return -float64(n.StartTime), true }},
	{name: "tty", about: "controlling terminal (pts/3, tty1); - for none",
		text: func(t *table, n *node) string { return orDash(proc.TTYName(n.TTY)) },
		json: func(t *table, n *node) any { return unknownIf(proc.TTYName(n.TTY), "") }},
	rateField("read_bps", "bytes a second read from storage over the interval (/proc/PID/io read_bytes)", false),
	rateField("write_bps", "bytes a second written to storage over the interval (/proc/PID/io write_bytes)", true),
	{name: "fds", about: "number of open files",
		text:  func(t *table, n *node) string { return dashUnless(t.FDs(n)) },
		json:  func(t *table, n *node) any { return nullUnless(t.FDs(n)) },
		num:   func(t *table, n *node) (float64, bool) { v, ok := t.FDs(n); return float64(v), ok },
		fetch: func(t *table, n *node) { t.FDs(n) }},
	{name: "ports", about: "listening TCP and UDP ports, e.g. tcp:8080,udp:53; - for none",
		text:  func(t *table, n *node) string { return orDash(strings.Join(t.Ports(n), ",")) },
		json:  func(t *table, n *node) any { return append([]string{}, t.Ports(n)...) },
		num:   func(t *table, n *node) (float64, bool) { return float64(len(t.Ports(n))), true },
		fetch: func(t *table, n *node) { t.Ports(n) }},
	{name: "cgroup", about: "cgroup v2 path, which names its container or systemd unit",
		text:  func(t *table, n *node) string { v, _ := t.Cgroup(n); return orDash(printable(v)) },
		json:  func(t *table, n *node) any { v, _ := t.Cgroup(n); return unknownIf(v, "") },
		fetch: func(t *table, n *node) { t.Cgroup(n) }},
	{name: "wchan", about: "kernel function it sleeps in (why a D process is stuck); - when running",
		text:  func(t *table, n *node) string { v, _ := t.Wchan(n); return orDash(v) },
		json:  func(t *table, n *node) any { v, _ := t.Wchan(n); return unknownIf(v, "") },
		fetch: func(t *table, n *node) { t.Wchan(n) }},
	{name: "children", about: "children's PIDs, comma-separated",
		text: func(t *table, n *node) string { return childList(n) },
		json: func(t *table, n *node) any { return childPIDs(n) },
		num:  func(t *table, n *node) (float64, bool) { return float64(len(n.children)), true }},
	{name: "cmd", about: "full command line; [name] when it has none (kernel threads, zombies)",
		text:  func(t *table, n *node) string { return t.Cmd(n) },
		json:  func(t *table, n *node) any { return unknownIf(t.Cmd(n), "-") },
		fetch: func(t *table, n *node) { t.Argv(n) }},
	{name: "argv", about: "command line as a JSON array (plain output: as cmd)",
		text: func(t *table, n *node) string { return t.Cmd(n) },
		json: func(t *table, n *node) any {
			if argv := t.Argv(n); argv != nil {
				return argv
			}
			return nil
		},
		fetch: func(t *table, n *node) { t.Argv(n) }},
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
			return nil, fmt.Errorf("unknown field %q in -o (fields: %s)", name, fieldNames())
		}
		out = append(out, f)
	}
	return out, nil
}

// fieldNames lists the fields, comma-separated.
func fieldNames() string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ",")
}

func lookupField(name string) (field, bool) {
	for _, f := range fields {
		if f.name == name || f.key != "" && f.key == name {
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
	return field{name: name, about: about,
		text: func(t *table, n *node) string { return strconv.Itoa(get(n)) },
		json: func(t *table, n *node) any { return get(n) },
		num:  func(t *table, n *node) (float64, bool) { return float64(get(n)), true }}
}

// floatField is a number shown with prec decimals, "-" (null) when unknown.
func floatField(name, key, about string, prec int, get func(*table, *node) (float64, bool)) field {
	scale := math.Pow10(prec)
	return field{name: name, key: key, about: about,
		text: func(t *table, n *node) string {
			if v, ok := get(t, n); ok {
				return strconv.FormatFloat(v, 'f', prec, 64)
			}
			return "-"
		},
		json: func(t *table, n *node) any {
			if v, ok := get(t, n); ok {
				return round(v, scale)
			}
			return nil
		},
		num:  get,
		rate: name == "%cpu"}
}

// rateField is bytes a second of storage I/O over the interval.
func rateField(name, about string, write bool) field {
	get := func(t *table, n *node) (float64, bool) { return t.IORate(n, write) }
	return field{name: name, about: about,
		text: func(t *table, n *node) string {
			if v, ok := get(t, n); ok {
				return strconv.FormatInt(int64(v), 10)
			}
			return "-"
		},
		json: func(t *table, n *node) any {
			if v, ok := get(t, n); ok {
				return int64(v)
			}
			return nil
		},
		num:   get,
		fetch: func(t *table, n *node) { t.IO(n) },
		rate:  true}
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

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dashUnless(v int, ok bool) string {
	if !ok {
		return "-"
	}
	return strconv.Itoa(v)
}

func nullUnless(v int, ok bool) any {
	if !ok {
		return nil
	}
	return v
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

// FieldNames returns the names -o and --sort accept, for shell completion.
func FieldNames() []string { return strings.Split(fieldNames(), ",") }
