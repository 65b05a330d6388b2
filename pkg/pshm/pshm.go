// Package pshm implements the pshm command: typed values and arrays,
// locks, semaphores, events, barriers and dicts in POSIX shared memory,
// for shell scripts (Python's multiprocessing.Value, Array, Lock,
// Semaphore, Event, Barrier and Manager().dict()). The objects themselves
// are in pkg/shm.
package pshm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/shm"
)

// CLI is pshm's command line.
type CLI struct {
	Remote // --url: the objects of a NATS server (remote.go)

	Create  createCmd  `cmd:"" help:"Create a value or array (or a lock, sem, event, barrier or dict)."`
	Get     getCmd     `cmd:"" help:"Print elements: NAME, NAME[I] or NAME[A:B]."`
	Set     setCmd     `cmd:"" help:"Set elements from NAME[I] on."`
	Add     addCmd     `cmd:"" help:"Atomically add DELTA to an element and print the new value."`
	Cas     casCmd     `cmd:"" help:"Set an element to NEW if it holds OLD (exit 1 if it does not)."`
	Wait    waitCmd    `cmd:"" help:"Wait until an element satisfies a comparison."`
	Lock    lockCmd    `cmd:"" help:"Run a command holding a robust lock, or acquire/release it."`
	Sem     semCmd     `cmd:"" help:"Run a command holding a semaphore slot; or use a glibc named semaphore (--posix)."`
	Event   eventCmd   `cmd:"" help:"Set, clear, wait for or test an event."`
	Barrier barrierCmd `cmd:"" help:"Wait until N processes have reached the barrier."`
	Dict    dictCmd    `cmd:"" help:"Set, get, delete and list entries of a shared string map."`
	Ls      lsCmd      `cmd:"" help:"List shared objects."`
	Rm      rmCmd      `cmd:"" help:"Remove shared objects."`
	Dump    dumpCmd    `cmd:"" help:"Print objects as JSON."`
	Info    infoCmd    `cmd:"" help:"Print an object's layout, for attaching from C, Python or numpy."`
}

// Command returns pshm's description for the shared CLI plumbing.
func Command() *cli.Command {
	return &cli.Command{Name: "pshm", Help: "Shared values, arrays, locks, semaphores, events, barriers and dicts in POSIX shared memory.", Grammar: &CLI{}}
}

// Main runs pshm with args and returns its exit status.
func Main(args []string) int {
	if code, ok := handOff(args); ok {
		return code
	}
	return cli.RunWith(Command(), args, runLocal)
}

// errNo is exit status 1 without a message: a negative answer.
var errNo = cli.Exit(cli.ExitFail, nil)

// fail turns a library error into pshm's exit statuses: bad input and
// objects of the wrong shape are usage errors (2), timeouts 124, a missing
// object or key, an existing object, a full dict 1.
func fail(err error) error {
	if err == nil {
		return nil
	}
	var ee *cli.ExitError
	switch {
	case errors.As(err, &ee):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return cli.Exitf(cli.ExitTimeout, "timed out")
	case errors.Is(err, shm.ErrWrongKind), errors.Is(err, shm.ErrNotPkit), errors.Is(err, shm.ErrForeign), errors.Is(err, shm.ErrReserved), errors.Is(err, shm.ErrShape):
		return cli.Exit(cli.ExitUsage, err)
	}
	return err
}

// open validates name and maps the object.
func open(name string) (*shm.Object, error) {
	if err := cli.ValidName("object", name); err != nil {
		return nil, err
	}
	obj, err := shm.Open(name)
	return obj, fail(err)
}

// ref is NAME, NAME[I], NAME[A:B] or NAME[A:B:STEP] (each of A, B and
// STEP may be left out; negative indexes count from the end, and slices
// are clamped to the array, as in Python).
type ref struct {
	name             string
	lo, hi, stepText string
	indexed          bool
	isSlice          bool
	start, end, step int // resolved by resolve: start, start+step, … short of end
}

func parseRef(s string) (ref, error) {
	r := ref{name: s, step: 1}
	if i := strings.IndexByte(s, '['); i >= 0 {
		if !strings.HasSuffix(s, "]") {
			return r, cli.Usagef("invalid reference %q (want NAME, NAME[I] or NAME[A:B])", s)
		}
		r.name, r.indexed = s[:i], true
		inner := s[i+1 : len(s)-1]
		var rest string
		r.lo, rest, r.isSlice = strings.Cut(inner, ":")
		r.hi, r.stepText, _ = strings.Cut(rest, ":")
		if !r.isSlice && inner == "" {
			return r, cli.Usagef("invalid reference %q: empty index", s)
		}
		if strings.Contains(r.stepText, ":") {
			return r, cli.Usagef("invalid reference %q (want NAME[A:B:STEP] at most)", s)
		}
	}
	return r, cli.ValidName("object", r.name)
}

// resolve turns the reference's indexes into start, end and step for an
// object of n elements: a single index must be in range; a slice is
// clamped as Python's slice.indices(n) does.
func (r *ref) resolve(n int) error {
	if !r.indexed {
		r.start, r.end = 0, n
		return nil
	}
	num := func(s string) (int, error) {
		i, err := strconv.Atoi(s)
		if err != nil {
			return 0, cli.Usagef("invalid index %q in %s", s, r.name)
		}
		return i, nil
	}
	if !r.isSlice {
		i, err := num(r.lo)
		if err != nil {
			return err
		}
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return cli.Usagef("index %s out of range: %s has %d element(s)", r.lo, r.name, n)
		}
		r.start, r.end = i, i+1
		return nil
	}
	if r.stepText != "" {
		var err error
		if r.step, err = num(r.stepText); err != nil {
			return err
		}
		if r.step == 0 {
			return cli.Usagef("slice step cannot be zero in %s", r.name)
		}
	}
	// Bounds: [0, n] going up; [-1, n-1] going down, where -1 is before
	// the first element.
	lowest, highest := 0, n
	if r.step < 0 {
		lowest, highest = -1, n-1
	}
	bound := func(s string, def int) (int, error) {
		if s == "" {
			return def, nil
		}
		i, err := num(s)
		if err != nil {
			return 0, err
		}
		if i < 0 {
			i += n
		}
		return min(max(i, lowest), highest), nil
	}
	var err error
	if r.step > 0 {
		r.start, err = bound(r.lo, 0)
		if err == nil {
			r.end, err = bound(r.hi, n)
		}
	} else {
		r.start, err = bound(r.lo, n-1)
		if err == nil {
			r.end, err = bound(r.hi, -1)
		}
	}
	return err
}

// next is the index after i in the reference, and whether there is one.
func (r *ref) next(i int) (int, bool) {
	i += r.step
	return i, r.step > 0 && i < r.end || r.step < 0 && i > r.end
}

// first is the reference's first index, and whether it has any.
func (r *ref) first() (int, bool) {
	return r.start, r.step > 0 && r.start < r.end || r.step < 0 && r.start > r.end
}

// waitContext returns a context that ends after timeout (0: never) or at
// SIGINT, SIGTERM or SIGHUP, and a function that releases it and turns a
// wait's error into the exit status: 124 for the timeout, 128+N for
// signal N.
func waitContext(timeout cli.Duration) (context.Context, func(error) error) {
	ctx, cancel := context.WithCancel(context.Background())
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout.D())
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	var got os.Signal
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case got = <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func(err error) error {
		cancel()
		<-stopped
		signal.Stop(sigs)
		if s, ok := got.(syscall.Signal); ok && errors.Is(err, context.Canceled) {
			return cli.Exit(cli.ExitSignalBase+int(s), nil)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return cli.Exitf(cli.ExitTimeout, "timed out after %s", time.Duration(timeout))
		}
		return fail(err)
	}
}

// ownerOf resolves --owner (default: the parent process, the shell that
// runs pshm) to an owner identity.
func ownerOf(pid int) (shm.Owner, error) {
	if pid == 0 {
		pid = proc.Caller()
	}
	o, err := shm.OwnerOf(pid)
	if err != nil {
		return o, cli.Usagef("--owner: %v", err)
	}
	return o, nil
}

func modeFlag(s string) (uint32, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, cli.Usagef("invalid --mode %q (want octal permission bits like 0600)", s)
	}
	return uint32(m), nil
}

// jsonLine writes v as one line of JSON, without escaping <, > and &.
func jsonLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
