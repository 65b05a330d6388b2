// Package pqueue implements the pqueue command: named, persistent,
// acknowledged queues for shell scripts and cron jobs, with the semantics
// of Python's Queue and JoinableQueue (bounded put, blocking get with a
// timeout, task_done and join) plus a broker's leases and redelivery. It
// talks to storage only through pkg/queue, so every backend serves the
// same command line.
package pqueue

import (
	"context"
	"errors"
	"time"

	"github.com/alecthomas/kong"
	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/location"
)

// CLI is pqueue's command line.
type CLI struct {
	Globals

	Put    PutCmd    `cmd:"" help:"Append items (arguments, or stdin lines) to a queue, creating it if needed."`
	Get    GetCmd    `cmd:"" help:"Take items from a queue and print them, or run a command on each (--exec); waits for a queue not created yet."`
	Done   DoneCmd   `cmd:"" help:"Acknowledge leased items: they are finished (task_done)."`
	Nack   NackCmd   `cmd:"" help:"Give leased items back for redelivery, optionally after a delay."`
	Touch  TouchCmd  `cmd:"" help:"Renew leases of items still being worked on."`
	Join   JoinCmd   `cmd:"" help:"Wait until nothing is ready or leased (JoinableQueue.join)."`
	Create CreateCmd `cmd:"" help:"Create a queue with a size limit, lease, delivery limit or durability."`
	Size   SizeCmd   `cmd:"" help:"Print how many items are ready (--json: all counters)."`
	Empty  EmptyCmd  `cmd:"" help:"Exit 0 if nothing is ready, 1 otherwise."`
	Full   FullCmd   `cmd:"" help:"Exit 0 if the queue is at its maxsize, 1 otherwise."`
	Ls     LsCmd     `cmd:"" help:"List the queues."`
	Purge  PurgeCmd  `cmd:"" help:"Drop every ready item (leased items stay)."`
	Rm     RmCmd     `cmd:"" help:"Remove queues and their items."`
}

// Globals are the flags every subcommand shares: where the queues live
// (a local directory, or a NATS server with --url and its credentials;
// ppool takes the same flags).
type Globals struct {
	location.Flags

	dial location.Dialer // see Main
}

// runner is every subcommand: it runs with the global flags. The method
// is unexported so that kong, which looks for a Run method by reflection
// as it checks each command line, finds none: commands are run by run.
type runner interface {
	run(g *Globals, env *cli.Env) error
}

// run runs the command kong selected, once the whole command line is
// checked: first the hand-off of a call to a server (handOff), before
// anything is read or written, then the command. It calls the command
// through runner rather than kong's Context.Run, which finds Run and its
// arguments by reflection (every method of every node on the path, to
// look for providers) at each call of a tool started once per item.
func run(kctx *kong.Context, env *cli.Env) error {
	c := kctx.Model.Target.Addr().Interface().(*CLI)
	if err := c.handOff(kctx.Args); err != nil {
		return err
	}
	return kctx.Selected().Target.Addr().Interface().(runner).run(&c.Globals, env)
}

// Command returns pqueue's description for the shared CLI plumbing.
func Command() *cli.Command { return command(nil) }

func command(dial location.Dialer) *cli.Command {
	return &cli.Command{Name: toolName(dial), Help: "Named, crash-safe, acknowledged queues for scripts: put, get, done, join.",
		Grammar: &CLI{Globals: Globals{dial: dial}}}
}

// Main runs pqueue with args and returns its exit status. dial opens the
// queues of a server (--url): natsq.Open in pqueue-nats. The pqueue binary
// passes nil: it leaves out the NATS client, whose start-up made every
// local call half again slower, and hands the calls with --url to
// pqueue-nats (handOff).
func Main(args []string, dial location.Dialer) int {
	return cli.RunWith(command(dial), args, run)
}

// toolName is the name the binary gives itself in its messages and
// --version: pqueue-nats says it is the one that answered.
func toolName(dial location.Dialer) string {
	if dial != nil {
		return companion
	}
	return "pqueue"
}

// backend opens the queue store the flags select: local files, or NATS
// JetStream with --url. Every subcommand reaches storage only through the
// queue.Backend it returns.
func (g *Globals) backend() (queue.Backend, error) { return g.Flags.Backend(g.dial) }

// openQueue validates name and opens the queue, creating it with the
// defaults when create is set.
func (g *Globals) openQueue(ctx context.Context, env *cli.Env, name string, create bool) (queue.Backend, queue.Queue, error) {
	if err := cli.ValidName("queue", name); err != nil {
		return nil, nil, err
	}
	b, err := g.backend()
	if err != nil {
		return nil, nil, err
	}
	var q queue.Queue
	if create {
		q, err = b.Ensure(ctx, name, queue.Config{})
	} else {
		q, err = b.Open(ctx, name)
	}
	if err != nil {
		b.Close()
		return nil, nil, queueError(err, 0)
	}
	if rb, ok := q.(interface{ RolledBack() uint64 }); ok && rb.RolledBack() != 0 {
		env.Warnf("queue %q: queue state rolled back to generation %d: its newest header copy is damaged, so puts and acknowledgements made after it are lost", name, rb.RolledBack())
	}
	return b, q, nil
}

// openReader opens queue name for a command that takes from it or waits
// on it: reading never creates a queue, so that a misspelled name is not
// a new, empty queue waited on forever. With wait, a queue that does not
// exist yet (workers may start before their producer) is waited for until
// ctx ends, saying so once on stderr so that a typo shows; without, it is
// an error (exit 1, "no such queue").
func (g *Globals) openReader(ctx context.Context, env *cli.Env, name string, wait bool, timeout cli.Duration) (queue.Backend, queue.Queue, error) {
	said := false
	for step := 10 * time.Millisecond; ; step = min(2*step, 250*time.Millisecond) {
		b, q, err := g.openQueue(ctx, env, name, false)
		if err == nil || !wait || !errors.Is(err, queue.ErrNotFound) {
			return b, q, err
		}
		if !said {
			env.Warnf("waiting for queue %q, which does not exist yet", name)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, nil, queueError(ctx.Err(), timeout)
		case <-time.After(step):
		}
	}
}

// withTimeout returns a context that ends after d (none when d is 0).
func withTimeout(d cli.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(context.Background(), d.D())
	}
	return context.WithCancel(context.Background())
}

// queueError maps storage errors to pqueue's exit statuses.
func queueError(err error, timeout cli.Duration) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return cli.Exitf(cli.ExitTimeout, "timed out after %s", time.Duration(timeout))
	case errors.Is(err, queue.ErrTooLarge), errors.Is(err, queue.ErrBadName), errors.Is(err, queue.ErrBadLease):
		return cli.Exit(cli.ExitUsage, err)
	default:
		return cli.Exit(cli.ExitFail, err)
	}
}

// holderDefault is the process whose death releases a --lease: the caller
// of pqueue (the script that will run done, not the subshell of
// line=$(pqueue get ...)), since pqueue itself exits at once.
func holderDefault() int { return proc.Caller() }
