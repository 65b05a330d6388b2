package ptree

import (
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// snapshot holds what rates are measured from: each process's CPU ticks, and
// its I/O counters where they were read, at one scan.
type snapshot struct {
	clock proc.Clock
	procs map[procKey]counters
}

// procKey identifies a process across PID reuse.
type procKey struct {
	pid   int
	start uint64
}

type counters struct {
	ticks uint64
	io    proc.IO
	ioOK  bool
}

func keyOf(n *node) procKey { return procKey{n.PID, n.StartTime} }

// snapshot records t's counters, the start of the next interval.
func (t *table) snapshot() *snapshot {
	s := &snapshot{clock: t.clock, procs: make(map[procKey]counters, len(t.nodes))}
	for _, n := range t.nodes {
		c := counters{ticks: n.UTime + n.STime}
		if n.more != nil && n.more.io.done {
			c.io, c.ioOK = n.more.io.v, n.more.io.ok
		}
		s.procs[keyOf(n)] = c
	}
	return s
}

// base returns n's counters at the start of the interval and how long it
// has lasted for n: a process started within it counts from zero at its
// start. ok is false without an interval, or for a process not seen then.
func (t *table) base(n *node) (c counters, span time.Duration, ok bool) {
	if t.before == nil {
		return counters{}, 0, false
	}
	span = t.clock.Now.Sub(t.before.clock.Now)
	if c, ok := t.before.procs[keyOf(n)]; ok {
		return c, span, span > 0
	}
	if el := t.clock.Elapsed(n.Stat); el < span {
		return counters{ioOK: true}, max(el, time.Second/time.Duration(t.clock.Hz)), true
	}
	return counters{}, 0, false
}

// CPUNow returns n's CPU use over the interval in percent of one core.
func (t *table) CPUNow(n *node) (float64, bool) {
	b, span, ok := t.base(n)
	ticks := n.UTime + n.STime
	if !ok || ticks < b.ticks {
		return 0, false
	}
	used := float64(ticks-b.ticks) / float64(t.clock.Hz)
	return 100 * used / span.Seconds(), true
}

// IORate returns the bytes a second n read from (or wrote to) storage over
// the interval.
func (t *table) IORate(n *node, write bool) (float64, bool) {
	b, span, ok := t.base(n)
	if !ok || !b.ioOK {
		return 0, false
	}
	now, ok := t.IO(n)
	if !ok {
		return 0, false
	}
	from, to := b.io.ReadBytes, now.ReadBytes
	if write {
		from, to = b.io.WriteBytes, now.WriteBytes
	}
	if to < from {
		return 0, false
	}
	return float64(to-from) / span.Seconds(), true
}
