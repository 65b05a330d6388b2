package pshm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/lifetime"
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/sharedstate"
	"github.com/pkit-sh/pkit/pkg/shm"
)

type lockCmd struct {
	Name    string       `arg:"" help:"Lock name; an existing object's own lock is used (as Python's Value.get_lock())." completion-predictor:"shm"`
	Cmd     []string     `arg:"" optional:"" passthrough:"" help:"Command to run holding the lock (after --)."`
	Timeout cli.Duration `short:"t" placeholder:"DUR" help:"Give up waiting after DUR (exit 124) (default: 0, wait forever)."`
	Acquire bool         `xor:"mode" help:"Take the lock for --owner and return, for scripts that hold it across commands."`
	Release bool         `xor:"mode" help:"Release the lock held by --owner."`
	Owner   int          `placeholder:"PID" help:"With --acquire/--release: the process that holds the lock (default: the calling script, pshm's parent or the shell of a subshell). The lock is freed when it dies."`
	Grace   cli.Duration `default:"5s" placeholder:"DUR" help:"Time the command's process group gets between TERM and KILL when pshm stops it (pshm killed, or members left behind)."`
	NoWait  bool         `name:"nonblock" short:"n" help:"Try once: exit 1 at once if the lock is taken (flock -n)."`
}

// lockObject opens name, or creates a lock object of that name.
func lockObject(name string) (*shm.Object, error) {
	if err := cli.ValidName("object", name); err != nil {
		return nil, err
	}
	obj, err := shm.Open(name)
	if errors.Is(err, shm.ErrNotExist) {
		obj, err = shm.OpenOrCreate(name, shm.Spec{Kind: shm.KindLock, Mode: 0o600})
	}
	return obj, fail(err)
}

func (c *lockCmd) Run(env *cli.Env) error {
	argv := command(c.Cmd)
	if (len(argv) > 0) == (c.Acquire || c.Release) {
		return cli.Usagef("give a command after --, or --acquire or --release")
	}
	if c.Owner != 0 && !c.Acquire && !c.Release {
		return cli.Usagef("--owner applies to --acquire and --release")
	}
	sigs, groups, ready, done := subscribe(argv, c.Grace.D())
	defer done()
	obj, err := lockObject(c.Name)
	if err != nil {
		return err
	}
	defer obj.Close()
	m := obj.Lock()
	if c.Release {
		pid := c.Owner
		if pid == 0 {
			pid = proc.Caller()
		}
		if err := m.ReleaseBy(pid); err != nil {
			return fmt.Errorf("release %s: %w", c.Name, err)
		}
		return nil
	}
	ready()
	return hold(env, holder{
		what:    "lock " + c.Name,
		try:     m.TryLock,
		wait:    m.Lock,
		group:   m.SetGroup,
		release: m.Unlock,
	}, c.Acquire, c.Owner, c.NoWait, c.Timeout, argv, sigs, groups)
}

// holder is what a lock and a semaphore share: a slot taken by an owner,
// recovered from a holder that died once its command's process group is
// gone, and given back.
type holder struct {
	what    string // "lock NAME", for messages
	slot    string // "a slot " for semaphores, so messages say what was recovered
	try     func(me shm.Owner) (ok bool, recovered *shm.Owner)
	wait    func(ctx context.Context, me shm.Owner) (recovered *shm.Owner, err error)
	group   func(me, g shm.Owner) error // records the command's process group
	release func(me shm.Owner) error
}

// hold takes h, then returns if acquire (the slot stays with --owner) or runs
// argv holding it and gives it back once the command's process group is
// gone. A recovery is reported on stderr and in $PSHM_RECOVERED. sigs and
// groups are the signals caught for the command and its lifetime
// (subscribe), nil with acquire.
func hold(env *cli.Env, h holder, acquire bool, owner int, nowait bool, timeout cli.Duration, argv []string, sigs <-chan os.Signal, groups *lifetime.Groups) error {
	if nowait && timeout != 0 {
		return cli.Usagef("--nonblock tries once; it takes no --timeout")
	}
	var me shm.Owner
	var err error
	if acquire {
		me, err = ownerOf(owner)
	} else {
		me, err = shm.Self()
	}
	if err != nil {
		return err
	}
	// Uncontended, take it at once: setting up the signal handling and
	// timer of a wait costs more than the rest of the command. --nonblock
	// stops here.
	ok, recovered := h.try(me)
	if !ok && nowait {
		return errNo
	}
	if !ok {
		ctx, done := waitContext(timeout)
		recovered, err = h.wait(ctx, me)
		if err := done(err); err != nil {
			return err
		}
	}
	var extra []string
	if recovered != nil {
		env.Warnf("%s: recovered %sfrom dead holder PID %d", h.what, h.slot, recovered.PID)
		extra = append(extra, "PSHM_RECOVERED="+strconv.Itoa(recovered.PID))
	}
	if acquire {
		return nil
	}
	pgid, runErr := runCommand(env, argv, sigs, groups, func(pgid int) error {
		g, err := shm.GroupOf(pgid)
		if err == nil {
			err = h.group(me, g)
		}
		return err
	}, extra...)
	if pgid != 0 && !lifetime.Gone(pgid) {
		// Members that outlived even KILL (asleep in the kernel) keep it:
		// the next taker recovers it once they are gone.
		fmt.Fprintf(env.Stderr, "pshm: %s: process group %d still has members; it stays taken until they are gone\n", h.what, pgid)
		return runErr
	}
	if err := h.release(me); err != nil {
		env.Warnf("%s: %v", h.what, err)
	}
	return runErr
}

type semCmd struct {
	Name    string       `arg:"" help:"Semaphore name." completion-predictor:"shm"`
	Cmd     []string     `arg:"" optional:"" passthrough:"" help:"Command to run holding a slot (after --); with --posix: post, wait, trywait, value, create [VALUE] or unlink."`
	Slots   int          `name:"slots" short:"n" placeholder:"N" help:"Number of slots, set when the semaphore is created on first use (default 1); must match an existing one."`
	Timeout cli.Duration `short:"t" placeholder:"DUR" help:"Give up waiting after DUR (exit 124) (default: 0, wait forever)."`
	Acquire bool         `xor:"mode" help:"Take a slot for --owner and return."`
	Release bool         `xor:"mode" help:"Release a slot held by --owner."`
	Owner   int          `placeholder:"PID" help:"With --acquire/--release: the process holding the slot (default: the calling script, pshm's parent or the shell of a subshell). Its slot is freed when it dies."`
	Posix   bool         `help:"Use the glibc named semaphore /dev/shm/sem.NAME (sem_open(\"/NAME\") in C, posix_ipc in Python)."`
	Grace   cli.Duration `default:"5s" placeholder:"DUR" help:"Time the command's process group gets between TERM and KILL when pshm stops it (pshm killed, or members left behind)."`
	NoWait  bool         `name:"nonblock" help:"Try once: exit 1 at once if no slot is free (flock -n; -n is --slots here)."`
}

func (c *semCmd) Run(env *cli.Env) error {
	if err := cli.ValidName("semaphore", c.Name); err != nil {
		return err
	}
	argv := command(c.Cmd)
	if c.Posix {
		return c.posix(env, argv)
	}
	if (len(argv) > 0) == (c.Acquire || c.Release) {
		return cli.Usagef("give a command after --, or --acquire or --release")
	}
	if c.Slots < 0 {
		return cli.Usagef("invalid -n %d", c.Slots)
	}
	sigs, groups, ready, done := subscribe(argv, c.Grace.D())
	defer done()
	obj, err := openSized(c.Name, shm.KindSem, c.Slots, 1)
	if err != nil {
		return err
	}
	defer obj.Close()
	if c.Release {
		pid := c.Owner
		if pid == 0 {
			pid = proc.Caller()
		}
		return fail(obj.SemRelease(shm.Owner{PID: pid}, true))
	}
	ready()
	return hold(env, holder{
		what:    "sem " + c.Name,
		slot:    "a slot ",
		try:     obj.SemTryAcquire,
		wait:    obj.SemAcquire,
		group:   obj.SemSetGroup,
		release: func(me shm.Owner) error { return obj.SemRelease(me, false) },
	}, c.Acquire, c.Owner, c.NoWait, c.Timeout, argv, sigs, groups)
}

// posixTimeout takes -t/--timeout from after the action (kong passes
// everything after NAME through): pshm sem --posix NAME wait -t 5.
func (c *semCmd) posixTimeout(action string, args []string) (string, []string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		v, isFlag := "", false
		switch {
		case a == "-t" || a == "--timeout":
			if i+1 == len(args) {
				return "", nil, cli.Usagef("%s needs a duration", a)
			}
			v, isFlag = args[i+1], true
			i++
		case strings.HasPrefix(a, "--timeout="):
			v, isFlag = strings.TrimPrefix(a, "--timeout="), true
		}
		if !isFlag {
			rest = append(rest, a)
			continue
		}
		d, err := cli.ParseDuration(v)
		if err != nil {
			return "", nil, cli.Usagef("--timeout: %v", err)
		}
		c.Timeout = cli.Duration(d)
	}
	return action, rest, nil
}

// posix runs an action on a glibc named semaphore.
func (c *semCmd) posix(env *cli.Env, argv []string) error {
	if runtime.GOOS != "linux" {
		return cli.Usagef("--posix: glibc named semaphores exist only on Linux")
	}
	if c.Acquire || c.Release || c.Owner != 0 || c.Slots != 0 {
		return cli.Usagef("--posix takes an action (post, wait, trywait, value, create, unlink), not -n, --acquire, --release or --owner")
	}
	if len(argv) == 0 {
		return cli.Usagef("--posix needs an action: post, wait, trywait, value, create [VALUE] or unlink")
	}
	action, rest, err := c.posixTimeout(argv[0], argv[1:])
	if err != nil {
		return err
	}
	want := 0
	if action == "create" {
		want = 1
	}
	if len(rest) > want {
		return cli.Usagef("too many arguments for %s: %q", action, rest)
	}
	switch action {
	case "create":
		v := uint64(0)
		if len(rest) == 1 {
			var err error
			if v, err = strconv.ParseUint(rest[0], 10, 31); err != nil {
				return cli.Usagef("invalid semaphore value %q", rest[0])
			}
		}
		s, err := shm.CreatePosixSem(c.Name, uint32(v), 0o600)
		if err != nil {
			return fail(err)
		}
		return s.Close()
	case "unlink":
		return fail(shm.Remove(shm.PosixSemFile(c.Name)))
	case "post", "wait", "trywait", "value":
	default:
		return cli.Usagef("unknown --posix action %q (want post, wait, trywait, value, create or unlink)", action)
	}
	s, err := shm.OpenPosixSem(c.Name)
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	switch action {
	case "post":
		return s.Post()
	case "trywait":
		if !s.TryWait() {
			return errNo
		}
		return nil
	case "value":
		v, _ := s.Value()
		_, err := fmt.Fprintln(env.Stdout, v)
		return err
	}
	ctx, done := waitContext(c.Timeout)
	return done(s.Wait(ctx))
}

type eventCmd struct {
	Name    string       `arg:"" help:"Event name (created, clear, on first use)." completion-predictor:"shm"`
	Action  string       `arg:"" enum:"set,clear,wait,is-set" help:"set, clear, wait (until set) or is-set (exit 0 if set, 1 if not)."`
	Timeout cli.Duration `short:"t" placeholder:"DUR" help:"wait: give up after DUR (exit 124) (default: 0, wait forever)."`
}

func (c *eventCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	if err := cli.ValidName("object", c.Name); err != nil {
		return err
	}
	ctx, cancel := srv.opContext()
	defer cancel()
	switch c.Action {
	case "set", "clear":
		return fail(s.SetEvent(ctx, c.Name, c.Action == "set"))
	case "is-set":
		ob, err := s.Stat(ctx, c.Name)
		switch {
		case errors.Is(err, shm.ErrNotExist):
			return errNo
		case err != nil:
			return fail(err)
		case ob.Spec.Kind != shm.KindEvent:
			return cli.Usagef("%s is a %s, not an event", c.Name, ob.Spec.Kind)
		case !ob.IsSet:
			return errNo
		}
		return nil
	}
	wctx, done := waitContext(c.Timeout)
	return done(s.WaitEvent(wctx, c.Name))
}

type barrierCmd struct {
	Name    string       `arg:"" help:"Barrier name." completion-predictor:"shm"`
	Parties int          `name:"parties" short:"n" placeholder:"N" help:"Number of processes to wait for: needed when the barrier is created on first use, must match an existing one (default: the existing barrier's)."`
	Timeout cli.Duration `short:"t" placeholder:"DUR" help:"Give up after DUR (exit 124); this process then no longer counts as arrived (default: wait forever)."`
}

func (c *barrierCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	if err := cli.ValidName("object", c.Name); err != nil {
		return err
	}
	parties := c.Parties
	if parties == 0 {
		ctx, cancel := srv.opContext()
		ob, err := s.Stat(ctx, c.Name)
		cancel()
		if errors.Is(err, shm.ErrNotExist) {
			return cli.Usagef("barrier %s does not exist; give -n N to create it", c.Name)
		}
		if err != nil {
			return fail(err)
		}
		parties = ob.Spec.Len
	}
	ctx, done := waitContext(c.Timeout)
	return done(s.Barrier(ctx, c.Name, parties))
}

type dictCmd struct {
	Name   string   `arg:"" help:"Dict name (created with default sizes by the first set; see pshm create NAME dict)." completion-predictor:"shm"`
	Action string   `arg:"" enum:"set,get,del,keys,items,len" help:"set KEY VALUE, get KEY, del KEY, keys, items or len."`
	Args   []string `arg:"" optional:"" help:"KEY [VALUE]."`
	JSON   bool     `help:"get, keys, items: JSON Lines ({\"key\":…,\"value\":…})."`
}

func (c *dictCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	if err := cli.ValidName("object", c.Name); err != nil {
		return err
	}
	nargs := map[string]int{"set": 2, "get": 1, "del": 1}[c.Action]
	if len(c.Args) != nargs {
		return cli.Usagef("dict %s takes %d argument(s), got %d", c.Action, nargs, len(c.Args))
	}
	// items prints KEY<TAB>VALUE lines, which such a key would break.
	if c.Action == "set" && strings.ContainsAny(c.Args[0], "\t\n") {
		return cli.Usagef("dict key %q contains a tab or newline", c.Args[0])
	}
	ctx, cancel := srv.opContext()
	defer cancel()
	switch c.Action {
	case "set":
		return fail(s.DictSet(ctx, c.Name, c.Args[0], c.Args[1]))
	case "get":
		v, err := s.DictGet(ctx, c.Name, c.Args[0])
		switch {
		case errors.Is(err, shm.ErrNoKey):
			return errNo
		case err != nil:
			return fail(err)
		case c.JSON:
			return jsonLine(env.Stdout, map[string]string{"key": c.Args[0], "value": v})
		}
		_, err = fmt.Fprintln(env.Stdout, v)
		return err
	case "del":
		err := s.DictDel(ctx, c.Name, c.Args[0])
		if errors.Is(err, shm.ErrNoKey) {
			return errNo
		}
		return fail(err)
	}
	ob, err := s.Stat(ctx, c.Name)
	if err != nil {
		return fail(err)
	}
	if ob.Spec.Kind != shm.KindDict {
		return cli.Usagef("%s is a %s, not a dict", c.Name, ob.Spec.Kind)
	}
	keys := make([]string, 0, len(ob.Items))
	for k := range ob.Items {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	switch c.Action {
	case "len":
		fmt.Fprintln(env.Stdout, len(keys))
	case "keys":
		for _, k := range keys {
			if c.JSON {
				jsonLine(env.Stdout, map[string]string{"key": k})
			} else {
				fmt.Fprintln(env.Stdout, k)
			}
		}
	case "items":
		for _, k := range keys {
			switch {
			case c.JSON:
				jsonLine(env.Stdout, map[string]string{"key": k, "value": ob.Items[k]})
			case strings.ContainsAny(k, "\t\n"):
				return fmt.Errorf("key %q contains a tab or newline; use --json", k)
			default:
				fmt.Fprintf(env.Stdout, "%s\t%s\n", k, ob.Items[k])
			}
		}
	}
	return nil
}

// openSized opens the semaphore or barrier name, creating it on first use
// with n slots or parties (def when n is 0; 0 means n is required). An
// existing object must be of that kind and, if n is given, that size.
func openSized(name string, kind shm.Kind, n, def int) (*shm.Object, error) {
	obj, err := shm.Open(name)
	if errors.Is(err, shm.ErrNotExist) {
		if n == 0 {
			n = def
		}
		if n < 1 {
			return nil, cli.Usagef("%s %s does not exist; give -n N to create it", kind, name)
		}
		obj, err = shm.OpenOrCreate(name, shm.Spec{Kind: kind, Len: n, Mode: 0o600})
	}
	if err != nil {
		return nil, fail(err)
	}
	if k := obj.Kind(); k != kind {
		obj.Close()
		return nil, cli.Usagef("%s is a %s, not a %s", name, k, kind)
	}
	if have := obj.Len(); n != 0 && have != n {
		obj.Close()
		return nil, cli.Usagef("%s %s has n=%d, not %d", kind, name, have, n)
	}
	return obj, nil
}
