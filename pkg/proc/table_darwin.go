package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUnsupported is returned for what darwin does not tell (it has no /proc).
var ErrUnsupported = errors.New("not supported on darwin")

// darwin's p_stat values (sys/proc.h).
const (
	darwinIdle  = 1 // SIDL: being created
	darwinRun   = 2
	darwinSleep = 3
	darwinStop  = 4
	darwinZomb  = 5
)

// darwin's P_TRACED flag: being debugged.
const darwinTraced = 0x800

// ReadStat describes process pid from the kernel's kinfo_proc. A missing
// process gives an error satisfying errors.Is(err, fs.ErrNotExist), as on
// Linux.
func ReadStat(pid int) (Stat, error) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	// For a PID no process has, the sysctl returns no data, which x/sys
	// reports as EIO.
	if err == unix.EIO || err == nil && k.Proc.P_pid != int32(pid) {
		return Stat{}, fmt.Errorf("read process %d: %w", pid, fs.ErrNotExist)
	}
	if err != nil {
		return Stat{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	boot, _ := bootTime()
	return fromKinfo(k, boot), nil
}

// All describes every process, from one sysctl.
func All() ([]Stat, error) {
	ks, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	boot, _ := bootTime()
	out := make([]Stat, 0, len(ks))
	for i := range ks {
		out = append(out, fromKinfo(&ks[i], boot))
	}
	return out, nil
}

// PIDs lists the processes.
func PIDs() ([]int, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	pids := make([]int, len(all))
	for i, s := range all {
		pids[i] = s.PID
	}
	return pids, nil
}

func fromKinfo(k *unix.KinfoProc, boot time.Time) Stat {
	p, e := &k.Proc, &k.Eproc
	s := Stat{
		PID:        int(p.P_pid),
		Comm:       string(bytes.TrimRight(p.P_comm[:], "\x00")),
		PPID:       int(e.Ppid),
		PGRP:       int(e.Pgid),
		TTY:        int(e.Tdev),
		TPGID:      int(e.Tpgid),
		Flags:      uint64(uint32(p.P_flag)),
		Priority:   int(p.P_priority),
		Nice:       int(p.P_nice),
		NumThreads: 1, // kinfo_proc does not count threads: see addTaskInfo
	}
	if sid, err := unix.Getsid(s.PID); err == nil {
		s.Session = sid
	}
	switch p.P_stat {
	case darwinRun, darwinIdle:
		s.State = 'R'
	case darwinSleep:
		s.State = 'S'
	case darwinStop:
		s.State = 'T'
		if p.P_flag&darwinTraced != 0 {
			s.State = 't'
		}
	case darwinZomb:
		s.State = 'Z'
		s.ExitCode, s.HasExit = int(p.P_xstat), true
	default:
		s.State = '?'
	}
	if !boot.IsZero() {
		started := time.Unix(p.P_starttime.Unix())
		s.StartTime = uint64(max(started.Sub(boot), 0) * defaultHz / time.Second)
	}
	addTaskInfo(&s)
	return s
}

// procTaskInfo is struct proc_taskinfo (sys/proc_info.h).
type procTaskInfo struct {
	VirtualSize, ResidentSize  uint64
	TotalUser, TotalSystem     uint64 // Mach absolute time units
	ThreadsUser, ThreadsSystem uint64
	Policy, Faults, Pageins    int32
	CowFaults, MessagesSent    int32
	MessagesReceived           int32
	SyscallsMach, SyscallsUnix int32
	Csw, Threadnum, Numrunning int32
	Priority                   int32
}

// proc_info(2) call and flavour: what libproc's proc_pidinfo(pid,
// PROC_PIDTASKINFO, ...) asks, without cgo; x/sys has no wrapper.
const (
	procInfoCallPIDInfo = 2
	procPIDTaskInfo     = 4
)

// addTaskInfo fills in the threads, sizes and CPU times kinfo_proc lacks,
// for the processes this user may inspect; the others keep 1 and 0.
func addTaskInfo(s *Stat) {
	var ti procTaskInfo
	n, _, errno := unix.Syscall6(unix.SYS_PROC_INFO, procInfoCallPIDInfo, uintptr(s.PID), procPIDTaskInfo, 0,
		uintptr(unsafe.Pointer(&ti)), unsafe.Sizeof(ti))
	if errno != 0 || n != unsafe.Sizeof(ti) {
		return
	}
	s.NumThreads = max(int(ti.Threadnum), 1)
	s.VSize = ti.VirtualSize
	s.RSS = int64(ti.ResidentSize) / int64(os.Getpagesize())
	s.UTime = machToTicks(ti.TotalUser)
	s.STime = machToTicks(ti.TotalSystem)
}

// machToTicks converts Mach absolute time to defaultHz ticks. Apple
// silicon counts 125/3 ns a unit, Intel Macs 1 ns.
func machToTicks(t uint64) uint64 {
	ns := t
	if runtime.GOARCH == "arm64" {
		ns = t / 3 * 125
	}
	return ns / uint64(time.Second/defaultHz)
}

// Threads is not available on darwin.
func Threads(pid int) ([]Stat, error) {
	return nil, fmt.Errorf("threads of %d: %w", pid, ErrUnsupported)
}

// Cmdline returns the arguments of process pid, from kern.procargs2:
// argc, the executable path, then argc NUL-terminated arguments.
func Cmdline(pid int) ([]string, error) {
	b, err := unix.SysctlRaw("kern.procargs2", pid)
	if err != nil {
		return nil, fmt.Errorf("command line of %d: %w", pid, err)
	}
	if len(b) < 4 {
		return []string{}, nil
	}
	argc := int(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	rest := b[4:]
	if i := bytes.IndexByte(rest, 0); i >= 0 { // skip the executable path
		rest = rest[i:]
	}
	rest = bytes.TrimLeft(rest, "\x00")
	args := make([]string, 0, argc)
	for len(args) < argc && len(rest) > 0 {
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			i = len(rest)
		}
		args = append(args, string(rest[:i]))
		rest = rest[min(i+1, len(rest)):]
	}
	return args, nil
}

// UID returns the effective user ID of process pid.
func UID(pid int) (int, error) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return -1, fmt.Errorf("user of %d: %w", pid, err)
	}
	return int(k.Eproc.Ucred.Uid), nil
}

// SinceLastRun is not available on darwin.
func SinceLastRun(pid int) (time.Duration, error) {
	return 0, fmt.Errorf("scheduler clock of %d: %w", pid, ErrUnsupported)
}

// ReadClock reads the boot time; StartTime on darwin is in defaultHz ticks.
func ReadClock() (Clock, error) {
	c := Clock{Now: time.Now(), Hz: defaultHz}
	boot, err := bootTime()
	if err != nil {
		return c, err
	}
	c.Boot, c.Uptime = boot, c.Now.Sub(boot)
	return c, nil
}

func bootTime() (time.Time, error) {
	tv, err := unix.SysctlTimeval("kern.boottime")
	if err != nil {
		return time.Time{}, fmt.Errorf("read boot time: %w", err)
	}
	return time.Unix(tv.Unix()), nil
}
