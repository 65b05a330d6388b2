package pqueue

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"unicode/utf8"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/queue"
)

// GetCmd is `pqueue get`.
type GetCmd struct {
	Name    string        `arg:"" help:"Queue name." completion-predictor:"queues"`
	Cmd     []string      `arg:"" optional:"" passthrough:"" help:"With --exec: the command to run on each item (after --)."`
	Count   int           `short:"n" name:"count" default:"1" placeholder:"N" help:"Take N items (default 1), waiting for each; with --nowait at most N."`
	Follow  bool          `short:"f" name:"follow" help:"Keep taking items as they arrive, until interrupted (with --nowait: until the queue is empty)."`
	Timeout cli.Duration  `placeholder:"DUR" help:"Wait at most DUR for items (exit 124; items already taken are printed) (default: wait forever)."`
	NoWait  bool          `name:"nowait" help:"Do not wait: take what is ready, exit 1 (\"empty\") if nothing is."`
	Lease   cli.Duration  `placeholder:"DUR" help:"Take items under a lease of DUR and print ID<TAB>ITEM: the item is delivered again unless 'pqueue done' acknowledges it in time (or if the holder dies) (default: no lease, a taken item is gone; with --exec, the queue's lease)."`
	Holder  int           `placeholder:"PID" default:"-1" help:"With --lease: the process whose exit releases the lease at once (default: the calling script, pqueue's parent or the shell of a subshell; 0: none)."`
	Exec    bool          `short:"x" name:"exec" help:"Run the command after -- on each item, given as a line on its stdin (or in place of {} in its arguments); done if it exits 0, nack otherwise."`
	Delay   *cli.Duration `name:"nack-delay" placeholder:"DUR" help:"With --exec: when the command fails, deliver the item again after DUR (default: back off, 1s doubling with each failure up to 5m)."`
	Grace   cli.Duration  `default:"5s" placeholder:"DUR" help:"With --exec: on a signal, or when pqueue dies, the command's process group gets TERM, then KILL after DUR."`
	Null    bool          `short:"0" name:"null" help:"End each printed item with a NUL byte instead of a newline (with --exec: give the command the item exactly, without a newline)."`
	JSON    bool          `name:"json" help:"Print one JSON object per item: item (or item_base64 when not UTF-8), id, deliveries."`
}

// getBatch bounds the items one call takes, so a long -n still prints as
// it goes; followBatch is the bound with -f.
const (
	getBatch    = 65536
	followBatch = 256
)

// run takes the items.
func (c *GetCmd) run(g *Globals, env *cli.Env) error {
	if err := c.validate(); err != nil {
		return err
	}
	if c.Exec {
		return c.runExec(g, env)
	}
	ctx, cancel := withTimeout(c.Timeout)
	defer cancel()
	b, q, err := g.openReader(ctx, env, c.Name, !c.NoWait, c.Timeout)
	if err != nil {
		return err
	}
	defer b.Close()
	defer q.Close()
	opt := queue.GetOptions{Lease: c.Lease.D(), NoWait: c.NoWait}
	if c.Lease > 0 {
		opt.HolderPID = c.Holder
		if c.Holder < 0 {
			opt.HolderPID = holderDefault()
		}
	}
	w := bufio.NewWriterSize(env.Stdout, 64<<10)
	defer w.Flush()
	got := 0
	for c.Follow || got < c.Count {
		want := min(getBatch, c.Count-got)
		if c.Follow {
			// Items arrive as they are put; a small batch bounds what an
			// auto-ack reader killed mid-write takes with it.
			want = followBatch
		}
		items, err := q.Get(ctx, want, opt)
		if err != nil {
			if c.NoWait && (got > 0 || c.Follow) && errors.Is(err, queue.ErrEmpty) {
				return nil // drained
			}
			return queueError(err, c.Timeout)
		}
		for _, it := range items {
			if err := c.print(w, it); err != nil {
				return err
			}
		}
		got += len(items)
		if c.Follow || c.NoWait {
			if err := w.Flush(); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (c *GetCmd) validate() error {
	if len(c.Cmd) > 0 && c.Cmd[0] == "--" { // kong keeps the separator
		c.Cmd = c.Cmd[1:]
	}
	switch {
	case c.Count < 1:
		return cli.Usagef("-n must be at least 1")
	case c.Follow && c.Count != 1:
		return cli.Usagef("-n and --follow cannot be combined")
	case c.NoWait && c.Timeout > 0:
		return cli.Usagef("--nowait and --timeout cannot be combined")
	case c.Exec && len(c.Cmd) == 0:
		return cli.Usagef("--exec needs a command after --")
	case !c.Exec && len(c.Cmd) > 0:
		return cli.Usagef("unexpected arguments %q (use --exec NAME -- CMD...)", c.Cmd)
	case c.Exec && c.JSON:
		return cli.Usagef("--exec prints nothing: --json does not apply")
	case c.Delay != nil && !c.Exec:
		return cli.Usagef("--nack-delay applies to --exec")
	case c.Holder >= 0 && c.Lease == 0:
		return cli.Usagef("--holder applies to --lease")
	}
	return nil
}

// itemJSON is one item of --json output.
type itemJSON struct {
	ID         string  `json:"id,omitempty"`
	Item       *string `json:"item,omitempty"`
	ItemBase64 string  `json:"item_base64,omitempty"`
	Deliveries int     `json:"deliveries"`
}

func (c *GetCmd) print(w *bufio.Writer, it queue.Item) error {
	if c.JSON {
		rec := itemJSON{ID: it.ID, Deliveries: it.Deliveries}
		if utf8.Valid(it.Data) {
			s := string(it.Data)
			rec.Item = &s
		} else {
			rec.ItemBase64 = base64.StdEncoding.EncodeToString(it.Data)
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		w.Write(b)
		return w.WriteByte('\n')
	}
	if it.ID != "" {
		w.WriteString(it.ID)
		w.WriteByte('\t')
	}
	w.Write(it.Data)
	end := byte('\n')
	if c.Null {
		end = 0
	}
	return w.WriteByte(end)
}

// signalled is returned when SIGINT, SIGTERM or SIGHUP ends pqueue.
type signalled struct{ sig syscall.Signal }

func (s signalled) Error() string { return "interrupted by " + s.sig.String() }

// onSignals returns a context cancelled by SIGINT, SIGTERM or SIGHUP, and
// the signal received.
func onSignals(parent context.Context) (context.Context, func() (syscall.Signal, bool), func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	var got syscall.Signal
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case s := <-ch:
			got = s.(syscall.Signal)
			cancel()
		case <-ctx.Done():
		}
	}()
	which := func() (syscall.Signal, bool) {
		select {
		case <-done:
			return got, got != 0
		default:
			return 0, false
		}
	}
	stop := func() {
		signal.Stop(ch)
		cancel()
		<-done
	}
	return ctx, which, stop
}
