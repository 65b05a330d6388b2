package proc

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	line := "1234 (a) b) c) S 1 1234 1234 34816 1234 4194560 100 0 0 0 5 6 0 0 20 0 3 0 98765 1000000 250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 256\n"
	s, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != 1234 || s.Comm != "a) b) c" || s.State != 'S' || s.PPID != 1 || s.StartTime != 98765 || s.NumThreads != 3 || s.RSS != 250 || !s.HasExit || s.ExitCode != 256 {
		t.Errorf("got %+v", s)
	}
}

func TestReadStatSelf(t *testing.T) {
	s, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != os.Getpid() || s.PPID != os.Getppid() || s.StartTime == 0 {
		t.Errorf("got %+v", s)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 10 100 5"))
	f.Add([]byte("7 ((x)) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err == nil && s.State == 0 {
			t.Fatalf("parsed without state: %q", b)
		}
	})
}

// TestParseStatMatchesFields compares ParseStat with a plain reading by
// bytes.Fields on every stat line of this machine and on edge cases.
func TestParseStatMatchesFields(t *testing.T) {
	lines := []string{
		"1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 10 100 5",
		"7 ((x)) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 -5 1 0 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 9",
	}
	if pids, err := PIDs(); err == nil {
		for _, pid := range pids {
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
				lines = append(lines, string(b))
			}
		}
	}
	for _, line := range lines {
		got, err := ParseStat([]byte(line))
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		f := strings.Fields(line[strings.LastIndexByte(line, ')')+1:])
		num := func(n int) int64 { v, _ := strconv.ParseInt(f[n-3], 10, 64); return v }
		want := []int64{num(4), num(5), num(6), num(7), num(8), num(9), num(14), num(15), num(18), num(19), num(20), num(22), num(23), num(24)}
		have := []int64{int64(got.PPID), int64(got.PGRP), int64(got.Session), int64(got.TTY), int64(got.TPGID), int64(got.Flags), int64(got.UTime), int64(got.STime), int64(got.Priority), int64(got.Nice), int64(got.NumThreads), int64(got.StartTime), int64(got.VSize), got.RSS}
		if !slices.Equal(have, want) || got.State != f[0][0] {
			t.Errorf("%q: got %v %c, want %v %s", line, have, got.State, want, f[0])
		}
		if len(f) >= 50 && (!got.HasExit || int64(got.ExitCode) != num(52)) {
			t.Errorf("%q: exit code %d (%v), want %d", line, got.ExitCode, got.HasExit, num(52))
		}
	}
}
