package pqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/lifetime"
	"github.com/pkit-sh/pkit/pkg/queue"
)

// runExec is `pqueue get --exec NAME -- CMD`: the simplest safe worker.
// Each item is taken under a lease held by this process (renewed while CMD
// runs) and done when CMD exits 0, given back otherwise. CMD runs as a
// process group of its own, registered with a lifetime watchdog and
// attached to the lease: if pqueue dies, however it dies, the group is
// stopped, and the item is delivered again only once the group is gone.
func (c *GetCmd) runExec(g *Globals, env *cli.Env) error {
	path, err := exec.LookPath(c.Cmd[0])
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return cli.Exitf(cli.ExitNotFound, "%s: command not found", c.Cmd[0])
		}
		return cli.Exitf(cli.ExitNotExec, "%s: %v", c.Cmd[0], err)
	}
	groups := lifetime.New(c.Grace.D())
	defer groups.Close()
	groups.Prepare()
	ctx, which, stop := onSignals(context.Background())
	defer stop()
	waitCtx, cancel := ctx, context.CancelFunc(func() {})
	if c.Timeout > 0 {
		waitCtx, cancel = context.WithTimeout(ctx, c.Timeout.D())
	}
	defer cancel()
	b, q, err := g.openReader(waitCtx, env, c.Name, !c.NoWait, c.Timeout)
	if sig, ok := which(); ok {
		return cli.Exit(cli.ExitSignalBase+int(sig), nil)
	}
	if err != nil {
		return err
	}
	defer b.Close()
	defer q.Close()
	lease := c.Lease.D()
	if lease == 0 {
		lease = q.Config().LeaseOrDefault()
	}
	opt := queue.GetOptions{Lease: lease, HolderPID: os.Getpid(), NoWait: c.NoWait}
	status := 0
	for n := 0; c.Follow || n < c.Count; n++ {
		items, err := q.Get(waitCtx, 1, opt)
		if sig, ok := which(); ok {
			if err == nil { // taken as the signal came: not run, so given back
				q.Nack(context.Background(), items[0].ID, 0)
			}
			return cli.Exit(cli.ExitSignalBase+int(sig), nil)
		}
		if err != nil {
			if c.NoWait && (n > 0 || c.Follow) && errors.Is(err, queue.ErrEmpty) {
				break
			}
			return queueError(err, c.Timeout)
		}
		st, err := c.runOne(ctx, env, q, groups, path, items[0], lease)
		if err != nil {
			return err
		}
		if sig, ok := which(); ok {
			return cli.Exit(cli.ExitSignalBase+int(sig), nil)
		}
		if st != 0 {
			status = st
		}
	}
	return cli.Exit(status, nil)
}

// runOne runs the command on one leased item and acknowledges it by the
// command's exit status, which it returns. When ctx ends (a signal), the
// command's group is stopped and the item given back.
func (c *GetCmd) runOne(ctx context.Context, env *cli.Env, q queue.Queue, groups *lifetime.Groups, path string, it queue.Item, lease time.Duration) (int, error) {
	bg := context.Background()
	args, inArgs := substitute(c.Cmd[1:], string(it.Data))
	cmd := exec.Command(path, args...)
	cmd.Args[0] = c.Cmd[0]
	if !inArgs {
		in := it.Data
		if !c.Null { // a line, so that `read` sees it
			in = append(in[:len(in):len(in)], '\n')
		}
		f, err := itemInput(in)
		if err != nil {
			q.Nack(bg, it.ID, 0)
			return 0, fmt.Errorf("item %s: %w", it.ID, err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	cmd.Stdout, cmd.Stderr = env.Stdout, env.Stderr
	cmd.SysProcAttr = lifetime.Attr()
	cmd.Env = append(os.Environ(), "PQUEUE_NAME="+q.Name(), "PQUEUE_ID="+it.ID, "PQUEUE_DELIVERIES="+strconv.Itoa(it.Deliveries))
	if ctx.Err() != nil { // a signal came while the item was being taken
		q.Nack(bg, it.ID, 0)
		return 0, nil
	}
	if err := groups.Start(); err != nil {
		q.Nack(bg, it.ID, 0)
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		q.Nack(bg, it.ID, c.nackDelay(it))
		return 0, cli.Exitf(cli.ExitNotExec, "%s: %v", c.Cmd[0], err)
	}
	// The lease learns the group first: should pqueue die before Add, the
	// item then waits for the group rather than running twice.
	pgid := cmd.Process.Pid
	if err := q.Attach(bg, it.ID, pgid); err != nil {
		env.Warnf("attach process group %d to lease %s: %v", pgid, it.ID, err)
	}
	if err := groups.Add(pgid); err != nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
		cmd.Wait()
		groups.Ended(pgid)
		q.Nack(bg, it.ID, 0)
		return 0, err
	}
	// Renew the lease while the command runs; stop it on a signal.
	exited := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(max(lease/3, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-exited:
				return
			case <-ctx.Done():
				groups.Stop()
				return
			case <-tick.C:
				if err := q.Extend(bg, it.ID, lease); err != nil {
					env.Warnf("renew lease %s: %v", it.ID, err)
				}
			}
		}
	}()
	werr := cmd.Wait()
	close(exited)
	<-stopped
	// The job is its group: what the command left in it is stopped before
	// the item is settled, so that its next delivery never overlaps it.
	groups.End(pgid)
	status := exitStatus(cmd.ProcessState, werr)
	if ctx.Err() != nil {
		// Interrupted: not the item's failure.
		if err := q.Nack(bg, it.ID, 0); err != nil {
			env.Warnf("%v", err)
		}
		return status, nil
	}
	if status == 0 {
		if err := q.Done(bg, it.ID); err != nil {
			env.Warnf("%v; the item may be delivered again", err)
		}
		return 0, nil
	}
	if err := q.Nack(bg, it.ID, c.nackDelay(it)); err != nil {
		env.Warnf("%v", err)
	}
	return status, nil
}

// nackDelay is how long a failed item waits before it is delivered again:
// --nack-delay, else the back-off of its delivery count.
func (c *GetCmd) nackDelay(it queue.Item) time.Duration {
	if c.Delay != nil {
		return c.Delay.D()
	}
	return queue.Backoff(it.Deliveries)
}

// itemInput returns a file to read in, holding all of it already, so that
// a command never starts with part of its item (or none, had pqueue died
// before it was written): a pipe filled and closed before the command
// starts when in fits in one (growPipe), else an unlinked temporary file.
func itemInput(in []byte) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	if growPipe(w, len(in)) {
		_, err := w.Write(in)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			return r, nil
		}
		r.Close()
		return nil, err
	}
	r.Close()
	w.Close()
	f, err := os.CreateTemp("", "pqueue-item-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if _, err := f.Write(in); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// substitute replaces {} in args with item, reporting whether it did.
func substitute(args []string, item string) ([]string, bool) {
	out := make([]string, len(args))
	found := false
	for i, a := range args {
		if strings.Contains(a, "{}") {
			a = strings.ReplaceAll(a, "{}", item)
			found = true
		}
		out[i] = a
	}
	return out, found
}

// exitStatus is the shell's view of how the command ended.
func exitStatus(ps *os.ProcessState, err error) int {
	if ps == nil {
		return cli.ExitNotExec
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return cli.ExitSignalBase + int(ws.Signal())
	}
	if err != nil && ps.ExitCode() == 0 {
		return 1
	}
	return ps.ExitCode()
}
