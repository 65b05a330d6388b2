package pspawn

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"golang.org/x/sys/unix"
)

// LogMax is the grammar of --log-max, embedded in CLI.
type LogMax struct {
	LogMax string `name:"log-max" placeholder:"SIZE" help:"Keep at most SIZE bytes (64K, 1M) of the job's log: the newest half in the log, the half before in LOG.1 (default: no limit)."`
}

// plan reads the size into sp.
func (l *LogMax) plan(sp *spec) error {
	n, err := cli.ParseSize(l.LogMax)
	if err != nil {
		return cli.Usagef("--log-max %q: %v", l.LogMax, err)
	}
	if n > 0 && sp.Foreground {
		return cli.Usagef("--log-max: not with --wait (there is no log)")
	}
	sp.LogMax = int64(n)
	return nil
}

// rotLog is a job's log kept to a size: once the log holds half of max
// it becomes LOG.1 (replacing the one before) and a new log starts, so
// that the two hold the last max/2 to max bytes. The runs of a --restart
// job share it.
type rotLog struct {
	path string
	half int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

func newRotLog(path string, limit int64) (*rotLog, error) {
	f, err := openOut(path, true)
	if err != nil {
		return nil, err
	}
	l := &rotLog{path: path, half: max(limit/2, 1), f: f}
	if fi, err := f.Stat(); err == nil {
		l.size = fi.Size()
	}
	return l, nil
}

func (l *rotLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := len(p)
	for len(p) > 0 {
		if l.size >= l.half {
			if err := l.rotate(); err != nil {
				return total - len(p), err
			}
			// Whole halves of p that later ones would push out of LOG.1
			// are never written: a rotation per chunk read, not per half.
			p = p[max(int64(len(p)-1)/l.half-1, 0)*l.half:]
		}
		n, err := l.f.Write(p[:min(int64(len(p)), l.half-l.size)])
		l.size += int64(n)
		p = p[n:]
		if err != nil {
			return total - len(p), err
		}
	}
	return total, nil
}

// rotate makes the log LOG.1 and puts an empty one in its place. Each
// name is replaced by a rename, so that a reader finds both files at
// every moment: the log gets a second name, renamed over LOG.1, and a new
// file made under a temporary name is renamed over the log.
func (l *rotLog) rotate() error {
	dir, base := filepath.Split(l.path)
	f, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return err
	}
	old := f.Name() + ".1"
	if err := os.Link(l.path, old); err == nil {
		err = os.Rename(old, l.path+".1")
		if err != nil {
			os.Remove(old)
		}
	} else if !errors.Is(err, fs.ErrNotExist) { // a log removed meanwhile is started again
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), l.path); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	l.f.Close()
	l.f, l.size = f, 0
	return nil
}

// logPipe puts a pipe in place of the job's log among files, and copies
// what comes through it to s.log, rotated.
// The pipe's write end and the log go to after, for the caller to close
// once the job has started.
func (s *supervisor) logPipe(j jobSpec, files []*os.File, after *[]*os.File) ([]*os.File, error) {
	if s.sp.LogMax <= 0 || j.Log == "" {
		return files, nil
	}
	if s.log == nil {
		l, err := newRotLog(j.Log, s.sp.LogMax)
		if err != nil {
			return files, err
		}
		s.log = l
	}
	var logf *os.File
	for i := 1; i <= 2; i++ {
		if files[i] != nil && files[i].Name() == j.Log {
			logf = files[i]
		}
	}
	if logf == nil {
		return files, nil // both redirected
	}
	r, w, err := os.Pipe()
	if err != nil {
		return files, err
	}
	for i := 1; i <= 2; i++ {
		if files[i] == logf {
			files[i] = w
		}
	}
	*after = append(*after, w, logf)
	out := s.copying(j.ID, r)
	go func() {
		io.Copy(s.log, out)
		out.eof()
	}()
	return files, nil
}

// runOut is the read end of a pipe that carries one run's output. Once
// the run has ended (drain), what it wrote is all in the pipe: the reader
// takes that without waiting, says so (drained), and goes on reading what
// a process the job left behind may still write, until end of file.
type runOut struct {
	r        *os.File
	drained  chan struct{}
	once     sync.Once
	draining bool // the reader's own
}

// copying registers the pipe r of job id's run, whose output the record
// of the run waits for. Pipes chained (--ready-line in front of
// --log-max) are registered downstream first.
func (s *supervisor) copying(id string, r *os.File) *runOut {
	o := &runOut{r: r, drained: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.copied[id] = append(s.copied[id], o)
	return o
}

// Read reads the pipe; after drain, without waiting until it is empty.
func (o *runOut) Read(p []byte) (int, error) {
	if o.draining {
		var n int
		var err error
		rc, cerr := o.r.SyscallConn()
		if cerr != nil {
			return 0, cerr
		}
		rc.Read(func(fd uintptr) bool {
			for {
				if n, err = unix.Read(int(fd), p); err != unix.EINTR {
					return true
				}
			}
		})
		switch {
		case n > 0:
			return n, nil
		case err == unix.EAGAIN:
			o.draining = false
			o.once.Do(func() { close(o.drained) })
			return 0, nil // reads block again
		case err == nil:
			return 0, io.EOF
		}
		return 0, err
	}
	n, err := o.r.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		o.r.SetReadDeadline(time.Time{})
		o.draining = true
		return n, nil
	}
	return n, err
}

// eof is called by the reader at end of file: nothing more can come.
func (o *runOut) eof() {
	o.r.Close()
	o.once.Do(func() { close(o.drained) })
}

// drain makes the reader take what is in the pipe and waits until it has.
func (o *runOut) drain() {
	o.r.SetReadDeadline(time.Now())
	<-o.drained
}

// copiedOut waits until the output job id's run wrote before it ended is
// in its log (s.mu held), so that a reader who sees the record sees the
// whole log. Upstream pipes are drained first.
func (s *supervisor) copiedOut(id string) {
	outs := s.copied[id]
	delete(s.copied, id)
	for i := len(outs) - 1; i >= 0; i-- {
		outs[i].drain()
	}
}
