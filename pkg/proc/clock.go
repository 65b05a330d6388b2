package proc

import "time"

// defaultHz is USER_HZ on every Linux architecture Go supports; used when
// the auxiliary vector cannot be read.
const defaultHz = 100

// Clock turns the tick counts of a Stat into times. Read it once per scan.
type Clock struct {
	Now    time.Time     // when the clock was read
	Boot   time.Time     // boot time, whole seconds as the kernel gives it
	Uptime time.Duration // time since boot at Now
	Hz     int           // clock ticks per second
}

// ticks converts a count of clock ticks into a duration.
func (c Clock) ticks(n uint64) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(c.Hz)
}

// Started returns when s started. It is computed from the boot time, as
// ps(1) does, so it is the same in every scan.
func (c Clock) Started(s Stat) time.Time { return c.Boot.Add(c.ticks(s.StartTime)) }

// Elapsed returns how long s has existed.
func (c Clock) Elapsed(s Stat) time.Duration {
	return max(c.Uptime-c.ticks(s.StartTime), 0)
}

// CPU returns the CPU time s has used, user and system.
func (c Clock) CPU(s Stat) time.Duration { return c.ticks(s.UTime + s.STime) }

// CPUPercent returns s's CPU use averaged over its life, as ps(1) reports
// %CPU: CPU time divided by elapsed time.
func (c Clock) CPUPercent(s Stat) float64 {
	el := c.Elapsed(s)
	if el <= 0 {
		return 0
	}
	return 100 * float64(c.CPU(s)) / float64(el)
}
