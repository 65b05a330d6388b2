package ppool

import (
	"errors"
	"io"
	"os"

	"github.com/pkit-sh/pkit/pkg/cli"
)

// BatchFlags put several items in one job (-N, -n, -X).
type BatchFlags struct {
	MaxArgs  int  `short:"N" name:"max-args" group:"Batches" placeholder:"N" help:"Up to N items per job: {} is all of them, {1}...{N} each one (default: 1)."`
	MaxArgsN int  `short:"n" name:"max-args-n" group:"Batches" placeholder:"N" help:"The same as -N (xargs -n) (default: 1)."`
	Xargs    bool `short:"X" name:"xargs" group:"Batches" help:"As many items per job as fit in the system's argument limit."`
}

// batcher groups items into one item a job: its values are those of the
// items in order.
type batcher struct {
	n       int // at most n items; 0: no count limit (-X)
	room    int // -X: bytes of argv and env left for the items; 0: no limit
	uses    int // how many times the command line holds the items
	held    Item
	hasHeld bool // held did not fit in the last batch
	eof     bool
}

func (b *batcher) next(one func() (Item, error)) (Item, error) {
	batch := make(Item, 0, b.n) // room for n one-value items
	count, used := 0, 0
	for b.n == 0 || count < b.n {
		it := b.held
		if b.hasHeld {
			b.hasHeld = false
		} else {
			if b.eof {
				break
			}
			v, err := one()
			if errors.Is(err, io.EOF) {
				b.eof = true
				break
			}
			if err != nil {
				return nil, err
			}
			it = v
		}
		cost := 0
		for _, v := range it {
			cost += (len(v) + 1 + 8) * b.uses // the bytes and a pointer each
		}
		if b.room > 0 && count > 0 && used+cost > b.room {
			b.held, b.hasHeld = it, true
			break
		}
		used += cost
		count++
		batch = append(batch, it...)
	}
	if count == 0 {
		return nil, io.EOF
	}
	return batch, nil
}

// Next returns the next job's item, or io.EOF.
func (it *Items) Next() (Item, error) {
	if it.batch == nil {
		return it.nextOne()
	}
	return it.batch.next(it.nextOne)
}

// newBatcher is -N/-n/-X for the command words, nil without them.
func (f *BatchFlags) newBatcher(tpl *Template, words []string) (*batcher, error) {
	n := max(f.MaxArgs, f.MaxArgsN)
	if f.MaxArgs < 0 || f.MaxArgsN < 0 || f.MaxArgs > 0 && f.MaxArgsN > 0 && f.MaxArgs != f.MaxArgsN {
		return nil, cli.Usagef("-N/-n: want one N >= 1")
	}
	if n <= 1 && !f.Xargs {
		return nil, nil
	}
	b := &batcher{n: n, uses: 1}
	if f.Xargs {
		uses := 0
		for _, a := range tpl.args {
			for _, p := range a {
				if p.repl != "" && p.repl != "{#}" && p.repl != "{%}" {
					uses++
				}
			}
		}
		b.uses = max(uses, 1)
		// What the items may take: the limit less the environment (with
		// PPOOL_SEQ and PPOOL_SLOT), the command's own words and room
		// for the sh -c wrapper of a shell command.
		fixed := 4096
		for _, e := range os.Environ() {
			fixed += len(e) + 1 + 8
		}
		for _, w := range words {
			fixed += len(w) + 1 + 8
		}
		b.room = argMax() - fixed
		if b.room <= 0 {
			return nil, cli.Usagef("-X: the environment and the command fill the argument limit")
		}
	}
	return b, nil
}
