package pqueue

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/queue"
)

// leaseChunk bounds the IDs read from stdin that one operation settles:
// done fed by get --lease settles what has arrived while get is still
// writing, in batches that keep a remote queue's round trips few.
const leaseChunk = 4096

// leaseID is the ID of an argument or stdin line, which may be a whole
// "ID<TAB>ITEM" line of get --lease.
func leaseID(s string) string {
	if tab := strings.IndexByte(s, '\t'); tab >= 0 {
		return s[:tab]
	}
	return s
}

// DoneCmd is `pqueue done`.
type DoneCmd struct {
	Name string   `arg:"" help:"Queue name." completion-predictor:"queues"`
	IDs  []string `arg:"" optional:"" name:"id" help:"Lease IDs printed by get --lease; none: read them from stdin."`
}

// run acknowledges the leases.
func (c *DoneCmd) run(g *Globals, env *cli.Env) error {
	return onLeases(g, env, c.Name, c.IDs, func(ctx context.Context, q queue.Queue, ids []string) error {
		return q.Done(ctx, ids...)
	})
}

// NackCmd is `pqueue nack`.
type NackCmd struct {
	Name  string       `arg:"" help:"Queue name." completion-predictor:"queues"`
	IDs   []string     `arg:"" optional:"" name:"id" help:"Lease IDs printed by get --lease; none: read them from stdin."`
	Delay cli.Duration `placeholder:"DUR" help:"Deliver the items again only after DUR (default: at once)."`
}

// run gives the leased items back.
func (c *NackCmd) run(g *Globals, env *cli.Env) error {
	return onLeases(g, env, c.Name, c.IDs, func(ctx context.Context, q queue.Queue, ids []string) error {
		return eachLease(ids, func(id string) error { return q.Nack(ctx, id, c.Delay.D()) })
	})
}

// TouchCmd is `pqueue touch`.
type TouchCmd struct {
	Name  string       `arg:"" help:"Queue name." completion-predictor:"queues"`
	IDs   []string     `arg:"" optional:"" name:"id" help:"Lease IDs; none: read them from stdin."`
	Lease cli.Duration `placeholder:"DUR" help:"New lease from now (default: the queue's lease)."`
}

// run renews the leases.
func (c *TouchCmd) run(g *Globals, env *cli.Env) error {
	return onLeases(g, env, c.Name, c.IDs, func(ctx context.Context, q queue.Queue, ids []string) error {
		d := c.Lease.D()
		if d == 0 {
			d = q.Config().LeaseOrDefault()
		}
		return eachLease(ids, func(id string) error { return q.Extend(ctx, id, d) })
	})
}

// onLeases opens queue name and runs op on the lease IDs of args, or of
// stdin chunk by chunk: done, nack and touch differ only in op. A failed
// chunk does not stop the ones after it; the errors are reported together.
func onLeases(g *Globals, env *cli.Env, name string, args []string, op func(ctx context.Context, q queue.Queue, ids []string) error) error {
	next := func() ([]string, error) { return args, io.EOF }
	if len(args) == 0 && cli.StdinHasData(env.Stdin) {
		next = cli.NewLines(env.Stdin, leaseChunk).Next
	}
	ids, readErr := next()
	if len(ids) == 0 {
		if readErr != nil && readErr != io.EOF {
			return readErr
		}
		return cli.Usagef("no lease IDs: give ID arguments or pipe them to stdin")
	}
	ctx := context.Background()
	b, q, err := g.openQueue(ctx, env, name, false)
	if err != nil {
		return err
	}
	defer b.Close()
	defer q.Close()
	// Two chunks are settled at once, so that a remote queue has the next
	// batch while it confirms one. A chunk that repeats an ID of the chunk
	// before waits for it, so that the repeat finds the lease gone, as one
	// call after the other would.
	type result struct{ err error }
	var (
		results []*result
		wg      sync.WaitGroup
		prev    map[string]bool // the IDs of the chunk before
		// Closed when the chunk before the last, and the last, are
		// settled; none is closed from the start.
		none                 = make(chan struct{})
		beforeDone, lastDone = none, none
	)
	close(none)
	for len(ids) > 0 {
		cur := make(map[string]bool, len(ids))
		for i, id := range ids {
			ids[i] = leaseID(id)
			cur[ids[i]] = true
		}
		<-beforeDone
		for id := range cur {
			if prev[id] {
				<-lastDone
				break
			}
		}
		r, chunk, done := &result{}, ids, make(chan struct{})
		results = append(results, r)
		wg.Go(func() {
			defer close(done)
			r.err = op(ctx, q, chunk)
		})
		prev, beforeDone, lastDone = cur, lastDone, done
		if readErr != nil {
			break
		}
		ids, readErr = next()
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		errs = append(errs, r.err)
	}
	if readErr != io.EOF {
		errs = append(errs, readErr)
	}
	return queueError(errors.Join(errs...), 0)
}

// eachLease applies op to every ID, so that one unknown lease does not
// keep the others from being settled.
func eachLease(ids []string, op func(id string) error) error {
	var errs []error
	for _, id := range ids {
		errs = append(errs, op(id))
	}
	return errors.Join(errs...)
}

// JoinCmd is `pqueue join`.
type JoinCmd struct {
	Name    string       `arg:"" help:"Queue name." completion-predictor:"queues"`
	Timeout cli.Duration `placeholder:"DUR" help:"Wait at most DUR (exit 124) (default: wait forever)."`
}

// run waits until every item put has been done, and for a queue that does
// not exist yet, until it is created (see openReader).
func (c *JoinCmd) run(g *Globals, env *cli.Env) error {
	ctx, cancel := withTimeout(c.Timeout)
	defer cancel()
	b, q, err := g.openReader(ctx, env, c.Name, true, c.Timeout)
	if err != nil {
		return err
	}
	defer b.Close()
	defer q.Close()
	return queueError(q.Join(ctx), c.Timeout)
}

// CreateCmd is `pqueue create`.
type CreateCmd struct {
	Name          string       `arg:"" help:"Queue name." completion-predictor:"queues"`
	MaxSize       int64        `name:"maxsize" placeholder:"N" help:"Bound the items not yet done to N: put then waits (default 0: unbounded)."`
	Lease         cli.Duration `placeholder:"DUR" help:"Default lease for get --exec (default 30s)."`
	MaxDeliveries int          `name:"max-deliveries" placeholder:"N" help:"After N deliveries without done, move an item to the dead-letter queue NAME.dead (default 0: retry forever)."`
	Durable       bool         `xor:"durability" help:"fsync every put and acknowledgement: they survive an OS crash or power loss."`
	Volatile      bool         `xor:"durability" help:"Do not fsync (the default): operations survive the crash of any process, not of the OS."`
}

// run creates the queue; creating it again with the same settings is not
// an error.
func (c *CreateCmd) run(g *Globals, env *cli.Env) error {
	if err := cli.ValidName("queue", c.Name); err != nil {
		return err
	}
	if c.MaxSize < 0 || c.MaxDeliveries < 0 {
		return cli.Usagef("--maxsize and --max-deliveries must not be negative")
	}
	b, err := g.backend()
	if err != nil {
		return err
	}
	defer b.Close()
	q, err := b.Create(context.Background(), c.Name, queue.Config{MaxSize: c.MaxSize, Lease: c.Lease.D(), MaxDeliveries: c.MaxDeliveries, Durable: c.Durable})
	if err != nil {
		return queueError(err, 0)
	}
	return q.Close()
}

// statsOf opens an existing queue and returns its counters.
func statsOf(g *Globals, env *cli.Env, name string) (queue.Stats, error) {
	ctx := context.Background()
	b, q, err := g.openQueue(ctx, env, name, false)
	if err != nil {
		return queue.Stats{}, err
	}
	defer b.Close()
	defer q.Close()
	st, err := q.Stats(ctx)
	return st, queueError(err, 0)
}

// statsJSON is the --json form of a queue's counters.
type statsJSON struct {
	Name string `json:"name"`
	queue.Stats
}

// SizeCmd is `pqueue size`.
type SizeCmd struct {
	Name string `arg:"" help:"Queue name." completion-predictor:"queues"`
	JSON bool   `name:"json" help:"Print all counters as JSON: ready, leased, delivered, done, dead, maxsize, bytes."`
}

// run prints the number of ready items.
func (c *SizeCmd) run(g *Globals, env *cli.Env) error {
	st, err := statsOf(g, env, c.Name)
	if err != nil {
		return err
	}
	if c.JSON {
		return json.NewEncoder(env.Stdout).Encode(statsJSON{c.Name, st})
	}
	_, err = fmt.Fprintln(env.Stdout, st.Ready)
	return err
}

// EmptyCmd is `pqueue empty`.
type EmptyCmd struct {
	Name string `arg:"" help:"Queue name." completion-predictor:"queues"`
}

// run answers with the exit status, like test(1).
func (c *EmptyCmd) run(g *Globals, env *cli.Env) error {
	st, err := statsOf(g, env, c.Name)
	if err != nil {
		return err
	}
	if st.Ready > 0 {
		return cli.Exit(cli.ExitFail, nil)
	}
	return nil
}

// FullCmd is `pqueue full`.
type FullCmd struct {
	Name string `arg:"" help:"Queue name." completion-predictor:"queues"`
}

// run answers with the exit status, like test(1).
func (c *FullCmd) run(g *Globals, env *cli.Env) error {
	st, err := statsOf(g, env, c.Name)
	if err != nil {
		return err
	}
	if st.MaxSize == 0 || st.Ready+st.Leased < st.MaxSize {
		return cli.Exit(cli.ExitFail, nil)
	}
	return nil
}

// LsCmd is `pqueue ls`.
type LsCmd struct {
	Long bool `short:"l" name:"long" help:"Also print each queue's ready, leased, delivered and maxsize counts (tab-separated)."`
	JSON bool `name:"json" help:"One JSON object per queue with all counters."`
}

// run lists the queues.
func (c *LsCmd) run(g *Globals, env *cli.Env) error {
	b, err := g.backend()
	if err != nil {
		return err
	}
	defer b.Close()
	names, err := b.List(context.Background())
	if err != nil {
		return err
	}
	w := bufio.NewWriter(env.Stdout)
	defer w.Flush()
	for _, name := range names {
		if !c.Long && !c.JSON {
			fmt.Fprintln(w, name)
			continue
		}
		st, err := statsOf(g, env, name)
		if errors.Is(err, queue.ErrNotFound) { // removed meanwhile
			continue
		}
		if err != nil {
			return err
		}
		if c.JSON {
			b, _ := json.Marshal(statsJSON{name, st})
			w.Write(append(b, '\n'))
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\n", name, st.Ready, st.Leased, st.Delivered, st.MaxSize)
	}
	return w.Flush()
}

// PurgeCmd is `pqueue purge`.
type PurgeCmd struct {
	Name string `arg:"" help:"Queue name." completion-predictor:"queues"`
}

// run drops the ready items and prints how many on stderr when it is a
// terminal.
func (c *PurgeCmd) run(g *Globals, env *cli.Env) error {
	ctx := context.Background()
	b, q, err := g.openQueue(ctx, env, c.Name, false)
	if err != nil {
		return err
	}
	defer b.Close()
	defer q.Close()
	_, err = q.Purge(ctx)
	return queueError(err, 0)
}

// RmCmd is `pqueue rm`.
type RmCmd struct {
	Names []string `arg:"" name:"name" help:"Queue names." completion-predictor:"queues"`
	Force bool     `short:"f" name:"force" help:"A queue that does not exist is not an error."`
}

// run removes the queues.
func (c *RmCmd) run(g *Globals, env *cli.Env) error {
	b, err := g.backend()
	if err != nil {
		return err
	}
	defer b.Close()
	var errs []error
	for _, name := range c.Names {
		if err := cli.ValidName("queue", name); err != nil {
			return err
		}
		err := b.Remove(context.Background(), name)
		if c.Force && errors.Is(err, queue.ErrNotFound) {
			continue
		}
		errs = append(errs, err)
	}
	return queueError(errors.Join(errs...), 0)
}
