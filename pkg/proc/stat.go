// Package proc reads the kernel's process table: /proc/PID/stat on Linux,
// parsed by hand because it is 8–9× faster than gopsutil and keeps the
// kernel's exact state letter (T vs t, X).
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Stat is the part of /proc/PID/stat pkit uses. Times are in clock ticks.
type Stat struct {
	PID        int
	Comm       string // executable name, up to 15 bytes, may contain spaces and ')'
	State      byte   // R S D T t Z X I (and W P K on old kernels)
	PPID       int
	PGRP       int
	Session    int
	TTY        int // tty_nr
	TPGID      int // foreground process group of the controlling terminal
	Flags      uint64
	UTime      uint64
	STime      uint64
	Priority   int
	Nice       int
	NumThreads int
	StartTime  uint64 // ticks after boot; with PID it identifies a process across PID reuse
	VSize      uint64 // bytes
	RSS        int64  // pages
	ExitCode   int    // wait status, valid once the process is a zombie (field 52, Linux ≥ 3.5)
	HasExit    bool   // the kernel reported field 52
}

// ErrMalformed is returned for a stat line that cannot be parsed.
var ErrMalformed = errors.New("malformed /proc stat line")

// ParseStat parses the contents of /proc/PID/stat. comm is taken up to the
// last ')' so names containing ") " parse correctly.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open <= 0 || closing < open {
		return s, ErrMalformed
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return s, fmt.Errorf("%w: pid: %v", ErrMalformed, err)
	}
	s.PID = pid
	s.Comm = string(b[open+1 : closing])
	fields := bytes.Fields(b[closing+1:])
	// fields[0] is field 3 (state); field N is fields[N-3].
	if len(fields) < 22 || len(fields[0]) != 1 {
		return s, ErrMalformed
	}
	s.State = fields[0][0]
	ints := []struct {
		field int
		dst   *int
	}{{4, &s.PPID}, {5, &s.PGRP}, {6, &s.Session}, {7, &s.TTY}, {8, &s.TPGID}, {18, &s.Priority}, {19, &s.Nice}, {20, &s.NumThreads}}
	for _, f := range ints {
		v, err := strconv.Atoi(string(fields[f.field-3]))
		if err != nil {
			return s, fmt.Errorf("%w: field %d: %v", ErrMalformed, f.field, err)
		}
		*f.dst = v
	}
	uints := []struct {
		field int
		dst   *uint64
	}{{9, &s.Flags}, {14, &s.UTime}, {15, &s.STime}, {22, &s.StartTime}, {23, &s.VSize}}
	for _, f := range uints {
		if f.field-3 >= len(fields) {
			break
		}
		v, err := strconv.ParseUint(string(fields[f.field-3]), 10, 64)
		if err != nil {
			return s, fmt.Errorf("%w: field %d: %v", ErrMalformed, f.field, err)
		}
		*f.dst = v
	}
	if len(fields) > 24-3 {
		if v, err := strconv.ParseInt(string(fields[24-3]), 10, 64); err == nil {
			s.RSS = v
		}
	}
	if len(fields) > 52-3 {
		if v, err := strconv.Atoi(string(fields[52-3])); err == nil {
			s.ExitCode, s.HasExit = v, true
		}
	}
	return s, nil
}
