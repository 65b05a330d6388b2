package pspawn

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
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

// rotate makes the log LOG.1 and starts an empty one.
func (l *rotLog) rotate() error {
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return err
	}
	f, err := openOut(l.path, false)
	if err != nil {
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
	done := make(chan struct{})
	s.copying(j.ID, done)
	go func() {
		io.Copy(s.log, r)
		r.Close()
		close(done)
	}()
	return files, nil
}

// copyWait bounds the wait, at a job's end, for the rest of its output to
// be copied to its log: a process the job left behind may hold the pipe.
const copyWait = time.Second

// copying notes done as the end of the copy of job id's output that the
// record of its run waits for: the first registered, the last of a chain.
func (s *supervisor) copying(id string, done chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.copied[id] == nil {
		s.copied[id] = done
	}
}

// copiedOut waits until the output of job id's run is in its log (s.mu
// held), so that a reader who sees the record sees the whole log.
func (s *supervisor) copiedOut(id string) {
	done := s.copied[id]
	if done == nil {
		return
	}
	delete(s.copied, id)
	t := time.NewTimer(copyWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
