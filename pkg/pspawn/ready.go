package pspawn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"golang.org/x/sys/unix"
)

// Ready is the grammar of the readiness flags, embedded in CLI.
type Ready struct {
	ReadyLine    string       `name:"ready-line" placeholder:"REGEX" help:"Return only once a line of the job's output matches REGEX (the output still goes to the log or --stdout) (default: return once started)."`
	ReadyFile    string       `name:"ready-file" placeholder:"PATH" predictor:"file" help:"Return only once PATH exists (default: return once started)."`
	ReadyFD      int          `name:"ready-fd" placeholder:"N" help:"Return only once the job writes a line to its file descriptor N, s6's notification-fd (default: return once started)."`
	ReadyTimeout cli.Duration `name:"ready-timeout" default:"1m" placeholder:"DUR" help:"With --ready-*: give up after DUR, terminate the job and exit 124."`
}

// readiness is what the supervisor waits for before it reports a job.
type readiness struct {
	Line    string
	File    string
	FD      int
	Timeout time.Duration
}

func (r *readiness) on() bool { return r.Line != "" || r.File != "" || r.FD > 0 }

// plan checks the flags and puts them in sp.
func (r *Ready) plan(sp *spec) error {
	n := 0
	for _, on := range []bool{r.ReadyLine != "", r.ReadyFile != "", r.ReadyFD != 0} {
		if on {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	switch {
	case n > 1:
		return cli.Usagef("--ready-line, --ready-file and --ready-fd exclude each other")
	case sp.Foreground:
		return cli.Usagef("--ready-* and --wait exclude each other")
	case r.ReadyFD < 0 || r.ReadyFD > 0 && r.ReadyFD < 3:
		return cli.Usagef("--ready-fd %d: want 3 or more", r.ReadyFD)
	case r.ReadyLine != "" && sp.Stdout != "" && sp.Stderr != "":
		return cli.Usagef("--ready-line reads the job's log: not with both --stdout and --stderr")
	}
	if _, err := regexp.Compile(r.ReadyLine); err != nil {
		return cli.Usagef("--ready-line: %v", err)
	}
	file := r.ReadyFile
	if file != "" {
		abs, err := filepath.Abs(file)
		if err != nil {
			return cli.Usagef("--ready-file %s: %v", file, err)
		}
		file = abs
	}
	sp.Ready = readiness{Line: r.ReadyLine, File: file, FD: r.ReadyFD, Timeout: r.ReadyTimeout.D()}
	return nil
}

// readyPipes adds to a first run's files what its readiness is read
// from: a pipe in place of the log for --ready-line, whose lines a
// goroutine copies to the log, or a pipe at --ready-fd. The answer goes to
// s.ready[j.ID]. Pipe ends go to after, for the caller to close once the
// job has started.
func (s *supervisor) readyPipes(j jobSpec, files []*os.File, after *[]*os.File) ([]*os.File, error) {
	ch := s.ready[j.ID]
	if ch == nil || j.Run > 1 {
		return files, nil
	}
	rd := s.sp.Ready
	switch {
	case rd.Line != "":
		re := regexp.MustCompile(rd.Line) // checked by plan
		dest := files[1]
		if s.sp.Stdout != "" {
			dest = files[2]
		}
		d, err := unix.Dup(int(dest.Fd()))
		if err != nil {
			return files, err
		}
		unix.CloseOnExec(d)
		out := os.NewFile(uintptr(d), dest.Name())
		r, w, err := os.Pipe()
		if err != nil {
			out.Close()
			return files, err
		}
		for i := 1; i <= 2; i++ {
			if files[i] == dest {
				files[i] = w
			}
		}
		*after = append(*after, w)
		in := s.copying(j.ID, r)
		go func() {
			copyLines(in, out, re, ch)
			in.eof()
		}()
	case rd.FD > 0:
		r, w, err := os.Pipe()
		if err != nil {
			return files, err
		}
		for len(files) <= rd.FD {
			files = append(files, nil)
		}
		files[rd.FD] = w
		*after = append(*after, w)
		go func() {
			defer r.Close()
			if _, err := bufio.NewReader(r).ReadString('\n'); err != nil {
				ch <- fmt.Errorf("closed file descriptor %d without writing a line", rd.FD)
				return
			}
			ch <- nil
		}()
	}
	return files, nil
}

// copyLines copies the job's output from r to out, telling ch once a line
// matches re.
func copyLines(r io.Reader, out *os.File, re *regexp.Regexp, ch chan<- error) {
	defer out.Close()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadSlice('\n')
		out.Write(line)
		if len(line) > 0 && re.Match(line[:len(line)-len(suffixNL(line))]) {
			ch <- nil
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long line is matched in pieces
		}
		if err != nil {
			ch <- errors.New("output ended without a line matching --ready-line")
			return
		}
	}
	io.Copy(out, br)
}

func suffixNL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b[len(b)-1:]
	}
	return nil
}

// startReady starts the jobs, then reports each once it is ready, while
// the caller reaps: a job that ends first, or is not ready within
// --ready-timeout, is reported as failed (124 for the timeout; the job's
// group is stopped and its loop ended). The returned channel is closed
// once every answer is reported: the supervisor, whose jobs may all have
// ended by then, must not exit before.
func (s *supervisor) startReady(report *os.File) <-chan struct{} {
	s.ready = map[string]chan error{}
	for _, j := range s.sp.Jobs {
		s.ready[j.ID] = make(chan error, 2)
	}
	var ok []started
	s.startAll(func(st started) {
		if st.Error != "" {
			writeWire(report, &st)
		} else {
			ok = append(ok, st)
		}
	})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		defer report.Close()
		deadline := time.NewTimer(s.sp.Ready.Timeout)
		defer deadline.Stop()
		done := make(chan struct{})
		defer close(done)
		for _, st := range ok {
			ch := s.ready[st.ID]
			if s.sp.Ready.File != "" {
				go watchFile(s.sp.Ready.File, ch, done)
			}
			select {
			case err := <-ch:
				if err == nil {
					writeWire(report, &st)
					continue
				}
				writeWire(report, &started{ID: st.ID, Name: st.Name, Error: fmt.Sprintf("job %s not ready: %v", st.ID, err), Status: cli.ExitFail})
			case <-deadline.C:
				writeWire(report, &started{ID: st.ID, Name: st.Name, Error: fmt.Sprintf("job %s not ready after %s", st.ID, s.sp.Ready.Timeout), Status: cli.ExitTimeout})
				deadline.Reset(0)
			}
			s.stopLoop()
			syscall.Kill(-st.PID, syscall.SIGTERM)
			syscall.Kill(-st.PID, syscall.SIGCONT)
			pgid := st.PID
			time.AfterFunc(s.sp.Grace, func() { syscall.Kill(-pgid, syscall.SIGKILL) })
		}
	}()
	return reported
}

// notReady tells the readiness wait of job id, if any, that its first
// run ended (s.mu held).
func (s *supervisor) notReady(id string) {
	if ch := s.ready[id]; ch != nil {
		select {
		case ch <- errors.New("it ended"):
		default:
		}
	}
}
