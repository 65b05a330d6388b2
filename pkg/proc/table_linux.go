package proc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ReadStat reads and parses /proc/PID/stat. A missing process gives an
// error satisfying errors.Is(err, fs.ErrNotExist).
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// All returns the stat line of every process, in /proc's order. It reads
// each /proc/PID/stat once, with one reused buffer per worker; processes
// that exit during the scan (or that hidepid hides) are left out silently.
// Large tables are read by one worker per CPU: the time goes into the
// kernel formatting each file, which runs in parallel.
func All() ([]Stat, error) {
	pids, err := PIDs()
	if err != nil {
		return nil, err
	}
	stats := make([]Stat, len(pids))
	ok := make([]bool, len(pids))
	workers := min(runtime.NumCPU(), 4, len(pids)/parallelMin+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := statReader{buf: make([]byte, 1024)}
			// Interleaved rather than in halves: neighbouring PIDs cost alike.
			for i := w; i < len(pids); i += workers {
				stats[i], ok[i] = r.read("/proc/" + strconv.Itoa(pids[i]) + "/stat")
			}
		}()
	}
	wg.Wait()
	out := stats[:0]
	for i := range stats {
		if ok[i] {
			out = append(out, stats[i])
		}
	}
	return out, nil
}

// parallelMin is the number of processes per extra worker: below it a
// goroutine costs more than it saves.
const parallelMin = 256

// Threads returns the stat lines of the threads of process pid, the main
// thread included (its TID is pid).
func Threads(pid int) ([]Stat, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tids, err := numericNames(dir)
	if err != nil {
		return nil, err
	}
	r := statReader{buf: make([]byte, 1024)}
	out := make([]Stat, 0, len(tids))
	for _, tid := range tids {
		if s, ok := r.read(dir + "/" + strconv.Itoa(tid) + "/stat"); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// PIDs lists the processes in /proc.
func PIDs() ([]int, error) { return numericNames("/proc") }

func numericNames(dir string) ([]int, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	ids := make([]int, 0, len(names))
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		if id, err := strconv.Atoi(n); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// statReader reads stat files into one buffer: open, read, close, without
// the fstat and allocation of os.ReadFile. Any failure means the process
// is gone or hidden, so it is only reported as !ok.
type statReader struct{ buf []byte }

func (r *statReader) read(path string) (Stat, bool) {
	b, err := readSmall(path, &r.buf)
	if err != nil {
		return Stat{}, false
	}
	s, err := ParseStat(b)
	return s, err == nil
}

// readSmall reads a whole /proc file into *buf, growing it as needed.
func readSmall(path string, buf *[]byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(*buf) {
			*buf = append(*buf, make([]byte, len(*buf))...)
		}
		m, err := unix.Read(fd, (*buf)[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return (*buf)[:n], nil
		}
		n += m
	}
}

// Cmdline returns the arguments of process pid. Kernel threads and zombies
// have none (an empty slice, no error).
func Cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return []string{}, nil
	}
	return splitNul(b), nil
}

func splitNul(b []byte) []string {
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// UID returns the effective user ID of process pid, from /proc/PID/status
// (as ps(1) does; the owner of /proc/PID is root for non-dumpable processes).
func UID(pid int) (int, error) {
	buf := make([]byte, 1024)
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	b, err := readSmall(path, &buf)
	if err != nil {
		return -1, err
	}
	return parseStatusUID(b)
}

// SinceLastRun returns how long ago process pid last ran on a CPU, from
// se.exec_start in /proc/PID/sched (kernels built with CONFIG_SCHED_DEBUG)
// compared with this process's own. For a zombie that is how long it has
// been dead: exiting is the last thing a process does on a CPU.
func SinceLastRun(pid int) (time.Duration, error) {
	then, err := execStart("/proc/" + strconv.Itoa(pid) + "/sched")
	if err != nil {
		return 0, err
	}
	now, err := execStart("/proc/thread-self/sched")
	if err != nil {
		return 0, err
	}
	return max(now-then, 0), nil
}

// execStart reads se.exec_start, the scheduler clock when the task last
// started running.
func execStart(path string) (time.Duration, error) {
	buf := make([]byte, 512)
	b, err := readSmall(path, &buf)
	if err != nil {
		return 0, err
	}
	d, err := parseExecStart(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// ReadClock reads what turns stat's tick counts into times: the clock tick
// rate and the time since boot.
func ReadClock() (Clock, error) {
	c := Clock{Now: time.Now(), Hz: clockTicks()}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return c, err
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return c, fmt.Errorf("/proc/uptime: %w", ErrMalformed)
	}
	secs, err := strconv.ParseFloat(string(f[0]), 64)
	if err != nil {
		return c, fmt.Errorf("/proc/uptime: %w: %v", ErrMalformed, err)
	}
	c.Uptime = time.Duration(secs * float64(time.Second))
	c.Boot = c.Now.Add(-c.Uptime).Truncate(time.Second)
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		if _, after, ok := bytes.Cut(b, []byte("\nbtime ")); ok {
			if end := bytes.IndexByte(after, '\n'); end > 0 {
				if secs, err := strconv.ParseInt(string(after[:end]), 10, 64); err == nil {
					c.Boot = time.Unix(secs, 0)
				}
			}
		}
	}
	return c, nil
}

// atClktck is AT_CLKTCK in the auxiliary vector: sysconf(_SC_CLK_TCK)
// without cgo.
const atClktck = 17

func clockTicks() int {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return defaultHz
	}
	word := strconv.IntSize / 8
	for ; len(b) >= 2*word; b = b[2*word:] {
		key, val := nativeWord(b[:word]), nativeWord(b[word:2*word])
		if key == 0 {
			break
		}
		if key == atClktck && val > 0 {
			return int(val)
		}
	}
	return defaultHz
}

func nativeWord(b []byte) uint64 {
	if len(b) == 4 {
		return uint64(binary.NativeEndian.Uint32(b))
	}
	return binary.NativeEndian.Uint64(b)
}
