package proc

import (
	"bytes"
	"fmt"
	"strconv"
)

// IO is the part of /proc/PID/io pkit uses: bytes the process made the
// storage layer read and write (page cache hits and pipes not included).
type IO struct {
	ReadBytes  uint64
	WriteBytes uint64
}

// ReadIO reads process pid's I/O counters. Other users' processes give a
// permission error unless this one may ptrace them.
func ReadIO(pid int) (IO, error) {
	buf := make([]byte, 256)
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/io", &buf)
	if err != nil {
		return IO{}, err
	}
	return parseIO(b)
}

// Wchan returns the kernel function process pid sleeps in, or "" when it
// is running (or the kernel hides it from this user).
func Wchan(pid int) (string, error) {
	buf := make([]byte, 128)
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/wchan", &buf)
	if err != nil {
		return "", err
	}
	if s := string(bytes.TrimSpace(b)); s != "0" {
		return s, nil
	}
	return "", nil
}

// Cgroup returns process pid's cgroup v2 path (the "0::" line of
// /proc/PID/cgroup), which names its container or systemd unit; "" on a
// host with only cgroup v1.
func Cgroup(pid int) (string, error) {
	buf := make([]byte, 512)
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/cgroup", &buf)
	if err != nil {
		return "", err
	}
	return parseCgroup(b), nil
}

// CountFDs returns how many files process pid has open.
func CountFDs(pid int) (int, error) {
	n := 0
	err := eachName("/proc/"+strconv.Itoa(pid)+"/fd", func(int, string) { n++ })
	return n, err
}

// TTYName names the terminal of a stat line's tty_nr as ps(1) does:
// pts/3, tty1, ttyS0; "" for none.
func TTYName(nr int) string {
	if nr == 0 {
		return ""
	}
	major := (nr >> 8) & 0xfff
	minor := nr&0xff | (nr>>12)&0xfff00
	switch {
	case major >= 136 && major <= 143:
		return "pts/" + strconv.Itoa((major-136)<<8|minor)
	case major == 4 && minor < 64:
		return "tty" + strconv.Itoa(minor)
	case major == 4:
		return "ttyS" + strconv.Itoa(minor-64)
	case major == 5 && minor == 0:
		return "tty"
	case major == 5 && minor == 1:
		return "console"
	}
	return fmt.Sprintf("%d:%d", major, minor)
}
