// Package proc reads the kernel's process table: /proc/PID/stat on Linux,
// parsed by hand because it is 8–9× faster than gopsutil and keeps the
// kernel's exact state letter (T vs t, X).
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"math"
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
// last ')' so names containing ") " parse correctly. It walks the line once
// without allocating per field: ptree parses thousands of these per run.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open <= 0 || closing < open {
		return s, ErrMalformed
	}
	pid, ok := parseInt(bytes.TrimSpace(b[:open]))
	if !ok {
		return s, fmt.Errorf("%w: pid %q", ErrMalformed, bytes.TrimSpace(b[:open]))
	}
	s.PID = int(pid)
	s.Comm = string(b[open+1 : closing])
	rest := b[closing+1:]
	field := 2 // the number of the last field read; 1 is pid, 2 is comm
	for field < 52 {
		var tok []byte
		if tok, rest = nextField(rest); tok == nil {
			break
		}
		field++
		if err := s.setField(field, tok); err != nil {
			return s, err
		}
	}
	if field < 24 { // state through rss: the fields every kernel has had
		return s, ErrMalformed
	}
	return s, nil
}

// setField stores field number n (as proc(5) numbers them) of a stat line.
func (s *Stat) setField(n int, tok []byte) error {
	var dst *int
	var udst *uint64
	switch n {
	case 3:
		if len(tok) != 1 || !(tok[0] >= 'A' && tok[0] <= 'Z' || tok[0] >= 'a' && tok[0] <= 'z') {
			return fmt.Errorf("%w: state %q", ErrMalformed, tok)
		}
		s.State = tok[0]
		return nil
	case 4:
		dst = &s.PPID
	case 5:
		dst = &s.PGRP
	case 6:
		dst = &s.Session
	case 7:
		dst = &s.TTY
	case 8:
		dst = &s.TPGID
	case 18:
		dst = &s.Priority
	case 19:
		dst = &s.Nice
	case 20:
		dst = &s.NumThreads
	case 9:
		udst = &s.Flags
	case 14:
		udst = &s.UTime
	case 15:
		udst = &s.STime
	case 22:
		udst = &s.StartTime
	case 23:
		udst = &s.VSize
	case 24: // best effort, as are the fields after it
		if v, ok := parseInt(tok); ok {
			s.RSS = v
		}
		return nil
	case 52:
		if v, ok := parseInt(tok); ok && v == int64(int32(v)) {
			s.ExitCode, s.HasExit = int(v), true
		}
		return nil
	default:
		return nil
	}
	if dst != nil {
		v, ok := parseInt(tok)
		if !ok || v != int64(int32(v)) {
			return fmt.Errorf("%w: field %d: %q", ErrMalformed, n, tok)
		}
		*dst = int(v)
		return nil
	}
	v, ok := parseUint(tok)
	if !ok {
		return fmt.Errorf("%w: field %d: %q", ErrMalformed, n, tok)
	}
	*udst = v
	return nil
}

// nextField returns the next space-separated token of b and the rest; a
// nil token at the end.
func nextField(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	if i == j {
		return nil, nil
	}
	return b[i:j], b[j:]
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

// parseUint parses decimal digits, rejecting overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseInt parses an optionally negative decimal number that fits int64.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok || u > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}
