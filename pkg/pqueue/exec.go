package pqueue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/queue"
)

// runExec is `pqueue get --exec NAME -- CMD`: the simplest safe worker.
// Each item is taken under a lease held by this process (renewed while CMD
// runs), so if pqueue is killed the item is delivered again at once; it is
// done when CMD exits 0 and nacked otherwise.
func (c *GetCmd) runExec(g *Globals, env *cli.Env) error {
	path, err := exec.LookPath(c.Cmd[0])
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return cli.Exitf(cli.ExitNotFound, "%s: command not found", c.Cmd[0])
		}
		return cli.Exitf(cli.ExitNotExec, "%s: %v", c.Cmd[0], err)
	}
	ctx, which, stop := onSignals(context.Background())
	defer stop()
	waitCtx, cancel := ctx, context.CancelFunc(func() {})
	if c.Timeout > 0 {
		waitCtx, cancel = context.WithTimeout(ctx, c.Timeout.D())
	}
	defer cancel()
	b, q, err := g.openQueue(ctx, c.Name, true)
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
			return cli.Exit(cli.ExitSignalBase+int(sig), nil)
		}
		if err != nil {
			if c.NoWait && (n > 0 || c.Follow) && errors.Is(err, queue.ErrEmpty) {
				break
			}
			return queueError(err, c.Timeout)
		}
		st, err := c.runOne(ctx, env, q, path, items[0], lease)
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
// command's exit status, which it returns.
func (c *GetCmd) runOne(ctx context.Context, env *cli.Env, q queue.Queue, path string, it queue.Item, lease time.Duration) (int, error) {
	args, inArgs := substitute(c.Cmd[1:], string(it.Data))
	cmd := exec.Command(path, args...)
	cmd.Args[0] = c.Cmd[0]
	if !inArgs {
		in := it.Data
		if !c.Null { // a line, so that `read` sees it
			in = append(in[:len(in):len(in)], '\n')
		}
		cmd.Stdin = bytes.NewReader(in)
	}
	cmd.Stdout, cmd.Stderr = env.Stdout, env.Stderr
	// Its own process group, so that stopping it reaches its children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "PQUEUE_NAME="+q.Name(), "PQUEUE_ID="+it.ID, "PQUEUE_DELIVERIES="+strconv.Itoa(it.Deliveries))
	if err := cmd.Start(); err != nil {
		q.Nack(context.Background(), it.ID, c.Delay.D())
		return 0, cli.Exitf(cli.ExitNotExec, "%s: %v", c.Cmd[0], err)
	}
	// Renew the lease while the command runs; forward signals to it.
	exited := make(chan struct{})
	go func() {
		tick := time.NewTicker(max(lease/3, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-exited:
				return
			case <-ctx.Done():
				syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
				return
			case <-tick.C:
				if err := q.Extend(context.Background(), it.ID, lease); err != nil {
					env.Warnf("renew lease %s: %v", it.ID, err)
				}
			}
		}
	}()
	werr := cmd.Wait()
	close(exited)
	status := exitStatus(cmd.ProcessState, werr)
	bg := context.Background()
	if status == 0 && ctx.Err() == nil {
		if err := q.Done(bg, it.ID); err != nil {
			env.Warnf("%v; the item may be delivered again", err)
		}
		return 0, nil
	}
	if err := q.Nack(bg, it.ID, c.Delay.D()); err != nil {
		env.Warnf("%v", err)
	}
	return status, nil
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
