package proc

import (
	"testing"
	"time"
)

func TestCode(t *testing.T) {
	tests := []struct {
		s    Stat
		want string
	}{
		{Stat{PID: 10, State: 'S', Session: 1, PGRP: 10, TPGID: -1, NumThreads: 1}, "S"},
		{Stat{PID: 10, State: 'S', Session: 10, PGRP: 10, TPGID: 10, NumThreads: 4, Nice: -5}, "S<sl+"},
		{Stat{PID: 11, State: 'R', Session: 10, PGRP: 11, TPGID: 10, NumThreads: 1, Nice: 19}, "RN"},
		{Stat{PID: 12, State: 'Z', Session: 10, PGRP: 10, TPGID: 10, NumThreads: 1}, "Z+"},
		{Stat{PID: 13, State: 't', Session: 0, PGRP: 0, TPGID: 0, NumThreads: 1}, "t"},
	}
	for _, tt := range tests {
		if got := tt.s.Code(); got != tt.want {
			t.Errorf("%+v: Code() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestIsKernelThread(t *testing.T) {
	for _, tt := range []struct {
		s    Stat
		want bool
	}{
		{Stat{PID: 2, PPID: 0}, true},
		{Stat{PID: 40, PPID: 2}, true},
		{Stat{PID: 41, PPID: 1, Flags: pfKthread}, true},
		{Stat{PID: 1, PPID: 0, Flags: 0x400100}, false},
		{Stat{PID: 300, PPID: 1}, false},
	} {
		if got := tt.s.IsKernelThread(); got != tt.want {
			t.Errorf("%+v: IsKernelThread() = %v", tt.s, got)
		}
	}
}

func TestKnownState(t *testing.T) {
	for _, c := range []byte("RSDTtZXI") {
		if !KnownState(c) {
			t.Errorf("%c not known", c)
		}
	}
	for _, c := range []byte("Qz <") {
		if KnownState(c) {
			t.Errorf("%c known", c)
		}
	}
}

func TestClock(t *testing.T) {
	boot := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	c := Clock{Now: boot.Add(100 * time.Second), Boot: boot, Uptime: 100 * time.Second, Hz: 100}
	s := Stat{StartTime: 4000, UTime: 1500, STime: 500} // started at 40 s, used 20 s of CPU
	if got := c.Started(s); !got.Equal(boot.Add(40 * time.Second)) {
		t.Errorf("Started = %v", got)
	}
	if got := c.Elapsed(s); got != 60*time.Second {
		t.Errorf("Elapsed = %v", got)
	}
	if got := c.CPU(s); got != 20*time.Second {
		t.Errorf("CPU = %v", got)
	}
	if got := c.CPUPercent(s); got < 33.3 || got > 33.4 {
		t.Errorf("CPUPercent = %v", got)
	}
	if got := c.CPUPercent(Stat{StartTime: 10000}); got != 0 {
		t.Errorf("CPUPercent of a process started now = %v", got)
	}
}

func TestParseStatusUID(t *testing.T) {
	status := "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t5\nPPid:\t1\nTracerPid:\t0\nUid:\t1000\t1001\t1000\t1000\nGid:\t100\t100\t100\t100\n"
	uid, err := parseStatusUID([]byte(status))
	if err != nil || uid != 1001 {
		t.Errorf("parseStatusUID = %d, %v; want the effective UID 1001", uid, err)
	}
	if _, err := parseStatusUID([]byte("Name:\tx\n")); err == nil {
		t.Error("no Uid line: want an error")
	}
}

func TestParseExecStart(t *testing.T) {
	sched := "sleep (9742, #threads: 1)\n-------------------------------------------------------------------\nse.exec_start                                :       6790720.816032\nse.vruntime                                  :           180.589846\n"
	d, err := parseExecStart([]byte(sched))
	if err != nil || d != 6790720816032*time.Nanosecond {
		t.Errorf("parseExecStart = %v, %v", d, err)
	}
	for _, bad := range []string{"", "x\nse.exec_start : NaN\n", "x\nse.exec_start : -1\n", "x\nse.exec_start\n"} {
		if _, err := parseExecStart([]byte(bad)); err == nil {
			t.Errorf("parseExecStart(%q): want an error", bad)
		}
	}
}

func FuzzParseStatusUID(f *testing.F) {
	f.Add([]byte("Name:\tx\nUid:\t0\t0\t0\t0\n"))
	f.Add([]byte("Uid:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if uid, err := parseStatusUID(b); err == nil && uid < -1<<31 {
			t.Fatalf("implausible uid %d from %q", uid, b)
		}
	})
}

func FuzzParseExecStart(f *testing.F) {
	f.Add([]byte("x\nse.exec_start   :   12.5\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseExecStart(b); err == nil && d < 0 {
			t.Fatalf("negative duration %v from %q", d, b)
		}
	})
}
