package pqueue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/queue"
)

// PutCmd is `pqueue put`.
type PutCmd struct {
	Name    string       `arg:"" help:"Queue name." completion-predictor:"queues"`
	Items   []string     `arg:"" optional:"" help:"Items to put; none: read them from stdin, one a line (or NUL-separated with -0)."`
	Null    bool         `short:"0" name:"null" help:"Stdin items are separated by NUL bytes instead of newlines."`
	Timeout cli.Duration `placeholder:"DUR" help:"While the queue is full, wait at most DUR (exit 124) (default: wait forever)."`
	NoWait  bool         `name:"nowait" help:"Do not wait while the queue is full: exit 1 (\"full\")."`
}

// putBatch is how many stdin items one locked write takes at most; a
// batch also ends when stdin has nothing more buffered, so items from a
// slow producer are not held back.
const putBatch = 8192

// run puts the items.
func (c *PutCmd) run(g *Globals, env *cli.Env) error {
	if c.NoWait && c.Timeout > 0 {
		return cli.Usagef("--nowait and --timeout cannot be combined")
	}
	ctx, cancel := withTimeout(c.Timeout)
	defer cancel()
	b, q, err := g.openQueue(ctx, env, c.Name, true)
	if err != nil {
		return err
	}
	defer b.Close()
	defer q.Close()
	if len(c.Items) > 0 {
		items := make([][]byte, len(c.Items))
		for i, s := range c.Items {
			items[i] = []byte(s)
		}
		_, err := q.Put(ctx, items, c.NoWait)
		return queueError(err, c.Timeout)
	}
	if cli.IsTerminal(env.Stdin) {
		return cli.Usagef("no items: give ITEM arguments or pipe items to stdin")
	}
	sep := byte('\n')
	if c.Null {
		sep = 0
	}
	return putStream(ctx, q, env.Stdin, sep, c.NoWait, c.Timeout)
}

// putStream puts the items of r, separated by sep, in batches. An item
// longer than queue.MaxItemSize stops it with an error; the items before it
// are in the queue.
func putStream(ctx context.Context, q queue.Queue, r io.Reader, sep byte, noWait bool, timeout cli.Duration) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var batch [][]byte
	var arena []byte // the batch's items, copied out of the reader's buffer
	total := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := q.Put(ctx, batch, noWait)
		total += n
		batch, arena = batch[:0], arena[:0]
		if err != nil {
			return queueError(fmt.Errorf("after %d items: %w", total, err), timeout)
		}
		return nil
	}
	tooLarge := func() error {
		if err := flush(); err != nil {
			return err
		}
		return cli.Exitf(cli.ExitUsage, "item %d is longer than %d bytes (%w); the %d items before it were put", total+1, queue.MaxItemSize, queue.ErrTooLarge, total)
	}
	for {
		line, owned, err := cli.ReadLong(br, sep, queue.MaxItemSize)
		if err == bufio.ErrBufferFull {
			return tooLarge()
		}
		if err != nil && err != io.EOF {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return fmt.Errorf("read stdin: %w", err)
		}
		if len(line) > 0 {
			item := bytes.TrimSuffix(line, []byte{sep})
			if len(item) > queue.MaxItemSize {
				return tooLarge()
			}
			if !owned { // the reader reuses its buffer: copy
				arena = append(arena, item...)
				item = arena[len(arena)-len(item):]
			}
			batch = append(batch, item)
		}
		if err == io.EOF || len(batch) >= putBatch || len(arena) >= 4<<20 || br.Buffered() == 0 {
			if ferr := flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}
