package proc

// pfKthread is PF_KTHREAD in the flags field of /proc/PID/stat.
const pfKthread = 0x00200000

// IsKernelThread reports whether s is a kernel thread (kthreadd and its
// children), which has no user space and no command line.
func (s Stat) IsKernelThread() bool {
	return s.Flags&pfKthread != 0 || s.PID == 2 || s.PPID == 2
}

// Code returns the state letter followed by the ps(1)-style modifiers that
// can be told from the stat line alone: '<' high priority (nice < 0), 'N'
// low priority (nice > 0), 's' session leader, 'l' multithreaded, '+' in
// the foreground process group of its terminal.
func (s Stat) Code() string {
	b := make([]byte, 0, 6)
	b = append(b, s.State)
	switch {
	case s.Nice < 0:
		b = append(b, '<')
	case s.Nice > 0:
		b = append(b, 'N')
	}
	if s.Session == s.PID && s.PID > 0 {
		b = append(b, 's')
	}
	if s.NumThreads > 1 {
		b = append(b, 'l')
	}
	if s.TPGID > 0 && s.TPGID == s.PGRP {
		b = append(b, '+')
	}
	return string(b)
}

// StateLetter is one kernel process state, as /proc and ps(1) show it.
type StateLetter struct {
	Letter byte
	Name   string
	About  string
}

// States lists the kernel's state letters in the order ps(1) documents them.
var States = []StateLetter{
	{'R', "running", "running or runnable (on a run queue)"},
	{'S', "sleeping", "interruptible sleep, waiting for an event"},
	{'D', "disk sleep", "uninterruptible sleep, usually I/O; cannot be killed until it returns"},
	{'T', "stopped", "stopped by a job-control signal (SIGSTOP, SIGTSTP, ...)"},
	{'t', "tracing stop", "stopped by a debugger (ptrace)"},
	{'Z', "zombie", "exited but not yet reaped by its parent"},
	{'X', "dead", "being removed; should never be seen"},
	{'I', "idle", "idle kernel thread"},
	{'P', "parked", "parked kernel thread (Linux 3.9 to 4.13)"},
	{'W', "paging", "paging or waking (old kernels)"},
	{'K', "wakekill", "woken by a fatal signal (Linux 2.6.33 to 3.13)"},
}

// Modifiers lists the ps(1)-style modifiers Code appends.
var Modifiers = []StateLetter{
	{'<', "high priority", "negative nice value"},
	{'N', "low priority", "positive nice value"},
	{'s', "session leader", "its PID is its session ID"},
	{'l', "multithreaded", "more than one thread"},
	{'+', "foreground", "in the foreground process group of its terminal"},
}

// KnownState reports whether c is one of the kernel's state letters.
func KnownState(c byte) bool {
	for _, s := range States {
		if s.Letter == c {
			return true
		}
	}
	return false
}
