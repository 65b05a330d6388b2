package pshm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/lifetime"
	"github.com/pkit-sh/pkit/pkg/natsauth"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/sharedstate"
	"github.com/pkit-sh/pkit/pkg/shm"
)

// Dialer opens the objects of the server at url (natsstate.Open).
type Dialer func(url string, auth queue.Auth) (sharedstate.Store, error)

// Remote is the option that puts the objects on a NATS JetStream server.
// pshm itself does not link the NATS client, nor even parse the options
// that go with --url (each costs every call's parse): it hands calls for a
// server to its companion pshm-nats (handOff), which runs pshm's command
// line with them against the server (RemoteMain).
type Remote struct {
	URL string `name:"url" env:"PSHM_URL" placeholder:"URL" group:"Across machines" help:"Keep the objects on the NATS JetStream server at URL (nats://HOST:PORT, e.g. a pqueued) instead of this machine's shared memory. Its options (--ttl, --fence, --token, --user, --password, --creds, --tls-*) show with --url URL --help."`
}

// Server is the rest of the options of a call for a server.
type Server struct {
	TTL             cli.Duration `name:"ttl" env:"PSHM_TTL" placeholder:"DUR" group:"Across machines" help:"With --url: lease of lock and sem, renewed while the command runs (default 10s, at least 1s)."`
	Fence           uint64       `name:"fence" env:"PSHM_FENCE" placeholder:"TOKEN" group:"Across machines" help:"With --url: the token that lock/sem --acquire printed, for --release."`
	natsauth.Server `embed:"" envprefix:"PSHM_" group:"Across machines"`
}

// serverCLI is pshm-nats's command line: pshm's and Server.
type serverCLI struct {
	CLI    `embed:""`
	Server `embed:""`
}

// companion is the pshm that links the NATS client, installed with pshm.
const companion = "pshm-nats"

// handOff replaces the process with the companion, given the same
// arguments and environment, when the call is for a server ($PSHM_URL, or
// --url among the options before any --, where kong reads it). The process
// keeps its PID. Failing, it reports a usage error: a retry will not help.
func handOff(args []string) (int, bool) {
	remote := os.Getenv("PSHM_URL") != ""
	for _, a := range args {
		if a == "--" || remote {
			break
		}
		remote = a == "--url" || strings.HasPrefix(a, "--url=")
	}
	if !remote {
		return 0, false
	}
	path, err := cli.CompanionPath(companion)
	if err == nil {
		err = syscall.Exec(path, append([]string{path}, args...), os.Environ())
	}
	env := &cli.Env{Name: "pshm", Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	return cli.Report(env, cli.Usagef("--url needs %s, installed with pshm: %v", companion, err)), true
}

// RemoteCommand is pshm-nats's description: pshm's, with Server.
func RemoteCommand() *cli.Command {
	return &cli.Command{Name: companion, Help: Command().Help, Grammar: &serverCLI{}}
}

// RemoteMain runs pshm's command line with dial for --url: pshm-nats's
// main. Without --url it behaves as pshm.
func RemoteMain(args []string, dial Dialer) int {
	return cli.RunWith(RemoteCommand(), args, func(kctx *kong.Context, env *cli.Env) error {
		root := kctx.Model.Target.Addr().Interface().(*serverCLI)
		if root.URL == "" {
			return runLocal(kctx, env)
		}
		cmd := kctx.Selected().Target.Addr().Interface()
		rc, remote := cmd.(remoteCmd)
		sc, both := cmd.(storeCmd)
		if !remote && !both {
			return cli.Usagef("%s is not available with --url", kctx.Selected().Name)
		}
		s, err := root.Server.store(root.URL, dial)
		if err != nil {
			return err
		}
		defer s.Close()
		if both {
			return sc.run(env, s, &root.Server)
		}
		return rc.remote(env, s, &root.Server)
	})
}

// runLocal runs the selected command on this machine's objects: over
// sharedstate.Local if it runs against a Store, else by its Run method.
func runLocal(kctx *kong.Context, env *cli.Env) error {
	sc, ok := kctx.Selected().Target.Addr().Interface().(storeCmd)
	if !ok {
		return kctx.Run(env)
	}
	s := &sharedstate.Local{}
	defer s.Close()
	return sc.run(env, s, nil)
}

// storeCmd is a command with one implementation, against whichever Store
// the call chose: sharedstate.Local, or the server of --url (with its
// options in r).
type storeCmd interface {
	run(env *cli.Env, s sharedstate.Store, r *Server) error
}

// remoteCmd is the --url side of a command whose local side still works
// on pkg/shm directly (its Run method), for what Store does not express:
// the local lock and sem record their command's process group and take
// --grace, --nonblock and --posix; the local ls and dump show sizes, modes,
// owners and holders' PIDs that a server's objects do not have.
type remoteCmd interface {
	remote(env *cli.Env, s sharedstate.Store, r *Server) error
}

// store connects to the server at url. Credentials it refuses and failed
// TLS are usage errors (exit 2): a retry will not help.
func (r *Server) store(url string, dial Dialer) (sharedstate.Store, error) {
	auth, err := r.Server.Auth("PSHM_")
	if err != nil {
		return nil, err
	}
	if r.TTL != 0 && r.TTL.D() < time.Second {
		return nil, cli.Usagef("--ttl %s is shorter than 1s", r.TTL.D())
	}
	s, err := dial(url, auth)
	if errors.Is(err, queue.ErrRefused) || errors.Is(err, queue.ErrTLS) {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	return s, err
}

// opTimeout bounds an operation that does not wait: long enough for a
// server that is restarting, short enough not to hang a script.
const opTimeout = 30 * time.Second

// opContext is the context of an operation that does not wait, of a call
// for the server r, or for this machine's objects when r is nil: those
// operations cannot hang, and a context without a deadline sets no timer,
// which would start the runtime's network poller in every call.
func (r *Server) opContext() (context.Context, context.CancelFunc) {
	if r == nil {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), opTimeout)
}

func (c *lockCmd) remote(env *cli.Env, s sharedstate.Store, r *Server) error {
	if err := cli.ValidName("object", c.Name); err != nil {
		return err
	}
	return holdRemote(env, s, r, "lock "+c.Name, c.Name, 0, c.Acquire, c.Release, c.Owner, c.Timeout, command(c.Cmd))
}

func (c *semCmd) remote(env *cli.Env, s sharedstate.Store, r *Server) error {
	if err := cli.ValidName("semaphore", c.Name); err != nil {
		return err
	}
	if c.Posix {
		return cli.Usagef("--posix semaphores are local to a machine: not available with --url")
	}
	if c.Slots < 0 {
		return cli.Usagef("invalid -n %d", c.Slots)
	}
	return holdRemote(env, s, r, "sem "+c.Name, c.Name, max(c.Slots, 1), c.Acquire, c.Release, c.Owner, c.Timeout, command(c.Cmd))
}

// holdRemote takes a lease on a slot of name (a lock when slots is 0) and
// prints its fencing token (acquire: the lease then lasts its TTL, as
// nothing renews it once pshm has exited, unless released by that token),
// or runs argv holding it.
func holdRemote(env *cli.Env, s sharedstate.Store, r *Server, what, name string, slots int, acquire, release bool, owner int, timeout cli.Duration, argv []string) error {
	switch {
	case release && r.Fence == 0:
		return cli.Usagef("--release needs --fence (or $PSHM_FENCE): the token --acquire printed")
	case release:
		ctx, cancel := r.opContext()
		defer cancel()
		return fail(s.ReleaseFence(ctx, name, r.Fence))
	case owner != 0:
		return cli.Usagef("--owner is not available with --url: a lease is held for its --ttl")
	case (len(argv) > 0) == acquire:
		return cli.Usagef("give a command after --, or --acquire")
	}
	ctx, done := waitContext(timeout)
	lease, err := s.Acquire(ctx, name, slots, r.TTL.D())
	if err := done(err); err != nil {
		return err
	}
	fence := strconv.FormatUint(lease.Fence(), 10)
	if acquire {
		_, err := fmt.Fprintln(env.Stdout, fence)
		return err
	}
	ttl := r.TTL.D()
	if ttl == 0 {
		ttl = sharedstate.DefaultTTL
	}
	return runLeased(env, lease, what, ttl, argv, "PSHM_FENCE="+fence)
}

// runLeased runs argv in a process group of its own while lease is held,
// and gives the lease back when it ends. If the lease is lost (it could not
// be renewed before its TTL), the group is stopped at once, TERM then KILL
// after an eighth of the TTL, so that it has ended before another holder
// can take the slot, and pshm exits with cli.ExitLeaseLost. HUP, INT and
// TERM stop the group too, and pshm exits 128+N.
func runLeased(env *cli.Env, lease sharedstate.Lease, what string, ttl time.Duration, argv []string, extraEnv ...string) error {
	g := lifetime.New(ttl / 8)
	defer g.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.SysProcAttr = lifetime.Attr()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	release := func() {
		if err := lease.Release(); err != nil {
			fmt.Fprintf(env.Stderr, "pshm: %s: %v\n", what, err)
		}
	}
	if err := cmd.Start(); err != nil {
		release()
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return cli.Exitf(cli.ExitNotFound, "%s: command not found", argv[0])
		}
		return cli.Exitf(cli.ExitNotExec, "%s: %v", argv[0], errors.Unwrap(err))
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := g.Add(pgid); err != nil {
		g.Stop()
		<-done
		release()
		return err
	}
	for {
		select {
		case sig := <-sigs:
			g.Stop()
			<-done
			g.Ended(pgid)
			release()
			return cli.Exit(cli.ExitSignalBase+int(sig.(syscall.Signal)), nil)
		case <-lease.Lost():
			g.Stop()
			<-done
			g.Ended(pgid)
			return cli.Exitf(cli.ExitLeaseLost, "%s: lease lost (not renewed within its TTL): command terminated", what)
		case err := <-done:
			g.Ended(pgid)
			release()
			return exitStatus(err)
		}
	}
}

// remoteType is what ls shows in the TYPE column for a server's object.
func remoteType(ob sharedstate.Object) string {
	switch ob.Spec.Kind {
	case shm.KindValue:
		return ob.Spec.Type.String()
	case shm.KindDict:
		return fmt.Sprintf("dict:%d:%d", ob.Spec.KeySize, ob.Spec.ValSize)
	}
	return ob.Spec.Kind.String()
}

func (c *lsCmd) remote(env *cli.Env, s sharedstate.Store, r *Server) error {
	if c.Sems {
		return cli.Usagef("--sems lists this machine's glibc semaphores: not available with --url")
	}
	ctx, cancel := r.opContext()
	defer cancel()
	objs, err := s.List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(env.Stdout, 1, 8, 1, ' ', 0)
	for _, ob := range objs {
		if c.JSON {
			jsonLine(env.Stdout, map[string]any{"name": ob.Name, "type": remoteType(ob), "len": ob.Spec.Len})
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%d\n", ob.Name, remoteType(ob), ob.Spec.Len)
	}
	return w.Flush()
}

func (c *dumpCmd) remote(env *cli.Env, s sharedstate.Store, r *Server) error {
	ctx, cancel := r.opContext()
	defer cancel()
	for _, n := range c.Names {
		if err := cli.ValidName("object", n); err != nil {
			return err
		}
		ob, err := s.Stat(ctx, n)
		if err != nil {
			return fail(err)
		}
		d := map[string]any{"name": n, "kind": ob.Spec.Kind.String(), "type": remoteType(ob), "len": ob.Spec.Len}
		switch ob.Spec.Kind {
		case shm.KindValue:
			vals := make([]any, len(ob.Values))
			for i, v := range ob.Values {
				vals[i] = v.JSON()
			}
			d["values"] = vals
		case shm.KindDict:
			d["items"] = ob.Items
		case shm.KindEvent:
			d["set"] = ob.IsSet
		case shm.KindBarrier:
			d["waiting"] = ob.Waiting
		case shm.KindLock, shm.KindSem:
			d["holders"] = ob.Holders
		}
		if err := jsonLine(env.Stdout, d); err != nil {
			return err
		}
	}
	return nil
}
