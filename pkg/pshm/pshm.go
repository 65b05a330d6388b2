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
	if code, ok := fastPath(args); ok {
		return code
	}
	return cli.Run(Command(), negativeNumbers(args))
}

// fastPath runs the commands scripts call in tight loops (add, get, set,
// cas, and lock/sem NAME -- CMD) when they come with no flags, without
// building the kong model: that takes about a millisecond, more than the
// operation itself. The commands behave exactly as through kong.
func fastPath(args []string) (int, bool) {
	if len(args) < 2 {
		return 0, false
	}
	if (args[0] == "lock" || args[0] == "sem") && len(args) >= 4 && args[2] == "--" && !strings.HasPrefix(args[1], "-") {
		var cmd interface{ Run(*cli.Env) error } = &lockCmd{Name: args[1], Cmd: args[2:]}
		if args[0] == "sem" {
			cmd = &semCmd{Name: args[1], Cmd: args[2:]}
		}
		env := &cli.Env{Name: "pshm", Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
		return cli.Report(env, cmd.Run(env)), true
	}
	quiet := args[0] == "add" && (args[1] == "-q" || args[1] == "--quiet")
	if quiet {
		args = append([]string{"add"}, args[2:]...)
	}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") && !isNegativeNumber(a) {
			return 0, false
		}
	}
	var cmd interface{ Run(*cli.Env) error }
	switch n := len(args) - 1; {
	case args[0] == "add" && n == 2:
		cmd = &addCmd{Ref: args[1], Delta: args[2], Quiet: quiet}
	case args[0] == "get" && n == 1:
		cmd = &getCmd{Ref: args[1]}
	case args[0] == "set" && n >= 2:
		cmd = &setCmd{Ref: args[1], Values: args[2:]}
	case args[0] == "cas" && n == 3:
		cmd = &casCmd{Ref: args[1], Old: args[2], New: args[3]}
	default:
		return 0, false
	}
	env := &cli.Env{Name: "pshm", Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	return cli.Report(env, cmd.Run(env)), true
}

// negativeNumbers lets values like -1 or -2.5 through kong, which would
// read them as flags. When a positional argument is a negative number, the
// flags are moved in front of a "--" and the positional arguments after it
// (pshm add c -1 → add -- c -1); a flag's negative value is attached to it
// (--init -1 → --init=-1). Commands that run a command (lock, sem) are left
// alone.
func negativeNumbers(args []string) []string {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "--" {
		n := 1 // a global flag before the command (--url URL)
		if valueFlags[args[0]] && len(args) > 1 {
			n = 2
		}
		return append(args[:n:n], negativeNumbers(args[n:])...)
	}
	if len(args) == 0 || args[0] == "lock" || args[0] == "sem" {
		return args
	}
	flags, positional := []string{args[0]}, []string{}
	negative, merged := false, false
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			negative = negative || anyNegative(args[i+1:])
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case valueFlags[a] && i+1 < len(args):
			if isNegativeNumber(args[i+1]) {
				flags, merged = append(flags, a+"="+args[i+1]), true
			} else {
				flags = append(flags, a, args[i+1])
			}
			i++
		case isNegativeNumber(a):
			negative = true
			positional = append(positional, a)
		case strings.HasPrefix(a, "-"):
			flags = append(flags, a)
		default:
			positional = append(positional, a)
		}
	}
	switch {
	case !negative && !merged:
		return args
	case !negative:
		return append(flags, positional...)
	}
	return append(append(flags, "--"), positional...)
}

func anyNegative(args []string) bool {
	for _, a := range args {
		if isNegativeNumber(a) {
			return true
		}
	}
	return false
}

// valueFlags are pshm's flags that take a value as the next argument.
var valueFlags = map[string]bool{"--init": true, "--until": true, "--timeout": true, "-t": true, "--mode": true, "--len": true, "-n": true, "--owner": true, "--slots": true, "--parties": true,
	"--url": true, "--ttl": true, "--token": true, "--user": true, "--password": true, "--creds": true, "--tls-ca": true, "--tls-cert": true, "--tls-key": true, "--fence": true}

// isNegativeNumber reports -1, -0x1f, -.5, -inf and the like.
func isNegativeNumber(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	if c := s[1]; c >= '0' && c <= '9' || c == '.' && len(s) > 2 && s[2] >= '0' && s[2] <= '9' {
		return true
	}
	switch strings.ToLower(s[1:]) {
	case "inf", "infinity", "nan":
		return true
	}
	return false
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
	case errors.Is(err, shm.ErrWrongKind), errors.Is(err, shm.ErrNotPkit), errors.Is(err, shm.ErrForeign), errors.Is(err, shm.ErrReserved):
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

// ref is NAME, NAME[I], NAME[A:B] (A or B may be left out; negative
// indexes count from the end, as in Python).
type ref struct {
	name       string
	lo, hi     string
	indexed    bool
	isSlice    bool
	start, end int // resolved by resolve
}

func parseRef(s string) (ref, error) {
	r := ref{name: s}
	if i := strings.IndexByte(s, '['); i >= 0 {
		if !strings.HasSuffix(s, "]") {
			return r, cli.Usagef("invalid reference %q (want NAME, NAME[I] or NAME[A:B])", s)
		}
		r.name, r.indexed = s[:i], true
		inner := s[i+1 : len(s)-1]
		r.lo, r.hi, r.isSlice = strings.Cut(inner, ":")
		if !r.isSlice && inner == "" {
			return r, cli.Usagef("invalid reference %q: empty index", s)
		}
	}
	return r, cli.ValidName("object", r.name)
}

// resolve turns the reference's indexes into [start, end) for an object
// of n elements.
func (r *ref) resolve(n int) error {
	if !r.indexed {
		r.start, r.end = 0, n
		return nil
	}
	idx := func(s string, def int, bound int) (int, error) {
		if s == "" {
			return def, nil
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			return 0, cli.Usagef("invalid index %q in %s", s, r.name)
		}
		if i < 0 {
			i += n
		}
		if i < 0 || i > bound {
			return 0, cli.Usagef("index %s out of range: %s has %d element(s)", s, r.name, n)
		}
		return i, nil
	}
	var err error
	if !r.isSlice {
		if r.start, err = idx(r.lo, 0, n-1); err != nil {
			return err
		}
		r.end = r.start + 1
		return nil
	}
	if r.start, err = idx(r.lo, 0, n); err != nil {
		return err
	}
	if r.end, err = idx(r.hi, n, n); err != nil {
		return err
	}
	if r.end < r.start {
		r.end = r.start
	}
	return nil
}

// openRef parses s, opens its object (a value) and resolves the indexes.
func openRef(s string) (*shm.Object, ref, error) {
	r, err := parseRef(s)
	if err != nil {
		return nil, r, err
	}
	obj, err := open(r.name)
	if err != nil {
		return nil, r, err
	}
	if k := obj.Kind(); k != shm.KindValue {
		obj.Close()
		return nil, r, cli.Usagef("%s is a %s, not a value (use pshm %s)", r.name, k, k)
	}
	if err := r.resolve(obj.Len()); err != nil {
		obj.Close()
		return nil, r, err
	}
	return obj, r, nil
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
		pid = os.Getppid()
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
