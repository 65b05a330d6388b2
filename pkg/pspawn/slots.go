package pspawn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/shm"
)

// Slots is the grammar of --slots, embedded in CLI.
type Slots struct {
	Slots string `name:"slots" placeholder:"NAME:N" help:"Run at most N jobs of the slot group NAME at once, across pspawn calls: the job is queued until one of the N slots of the pshm semaphore NAME is free, holds it while it runs (a --restart job between runs too), and frees it once its process group is gone, even if its supervisor is killed (default: no limit)."`
}

// slotGroup is --slots as the supervisor applies it.
type slotGroup struct {
	Name string
	N    int
}

// plan checks --slots and creates the semaphore on first use, so that a
// wrong size is a usage error of this call, not of the supervisor.
func (c *Slots) plan(sp *spec) error {
	if c.Slots == "" {
		return nil
	}
	switch {
	case sp.Foreground:
		return cli.Usagef("--slots and --wait exclude each other")
	case sp.Ready.on():
		return cli.Usagef("--slots and --ready-* exclude each other")
	}
	name, nText, _ := strings.Cut(c.Slots, ":")
	n, err := strconv.Atoi(nText)
	if err != nil || n < 1 {
		return cli.Usagef("--slots %q: want NAME:N, N at least 1", c.Slots)
	}
	if err := cli.ValidName("slot group", name); err != nil {
		return err
	}
	g := slotGroup{Name: name, N: n}
	obj, err := g.open()
	if err != nil {
		return err
	}
	obj.Close()
	sp.Slots = g
	return nil
}

// open maps the group's semaphore, creating it with N slots if it does
// not exist; one of another kind or size is a usage error.
func (g slotGroup) open() (*shm.Object, error) {
	obj, err := shm.Open(g.Name)
	if errors.Is(err, shm.ErrNotExist) {
		obj, err = shm.OpenOrCreate(g.Name, shm.Spec{Kind: shm.KindSem, Len: g.N, Mode: 0o600})
	}
	if err != nil {
		return nil, fmt.Errorf("--slots %s: %w", g.Name, err)
	}
	kind, n := obj.Kind(), obj.Len()
	switch {
	case kind != shm.KindSem:
		obj.Close()
		return nil, cli.Usagef("--slots %s: %s is a %s, not a semaphore", g.Name, g.Name, kind)
	case n != g.N:
		obj.Close()
		return nil, cli.Usagef("--slots %s:%d: the group has %d slots", g.Name, g.N, n)
	}
	return obj, nil
}

// slot is the slot a supervisor holds for its job.
type slot struct {
	obj *shm.Object
	me  shm.Owner
}

// freeSlot takes a slot at once for a job that waits for nothing else,
// if one is free, and reports whether it did: the job then starts as any
// other, its PID printed by pspawn.
func (s *supervisor) freeSlot() bool {
	if s.sp.Slots.Name == "" || len(s.sp.After) > 0 || !s.sp.StartAt.IsZero() {
		return false
	}
	sl, err := s.openSlot()
	if err != nil {
		return false // said by takeSlot, which tries again
	}
	if ok, _ := sl.obj.SemTryAcquire(sl.me); !ok {
		sl.obj.Close()
		return false
	}
	s.slot = sl
	return true
}

// takeSlot waits, with rec recorded as queued, until the job's group has a
// free slot and takes it. While it waits the job holds nothing: a slot is
// taken only by this compare-and-swap, in the name of this supervisor.
func (s *supervisor) takeSlot(rec *job.Record) error {
	sl, err := s.openSlot()
	if err != nil {
		return err
	}
	if rec.State != job.Queued {
		rec.State = job.Queued
		s.write(rec)
	}
	if _, err := sl.obj.SemAcquire(context.Background(), sl.me); err != nil {
		sl.obj.Close()
		return err
	}
	s.slot = sl
	return nil
}

// openSlot maps the job's group, to take a slot in this process's name.
func (s *supervisor) openSlot() (*slot, error) {
	obj, err := s.sp.Slots.open()
	if err != nil {
		return nil, err
	}
	me, err := shm.Self()
	if err != nil {
		obj.Close()
		return nil, err
	}
	return &slot{obj: obj, me: me}, nil
}

// slotRun records pgid, a run just started, as the group the slot waits
// for should the supervisor die: the slot is free only once it is gone.
func (s *supervisor) slotRun(pgid int) {
	if s.slot == nil {
		return
	}
	g, err := shm.GroupOf(pgid)
	if err == nil {
		err = s.slot.obj.SemSetGroup(s.slot.me, g)
	}
	if err != nil {
		fmt.Fprintf(s.errw, "pspawn: --slots %s: %v\n", s.sp.Slots.Name, err)
	}
}

// close stops what is left of the jobs' groups, then frees the slot:
// nothing of the job runs any more.
func (s *supervisor) close() {
	s.groups.Close()
	if s.slot != nil {
		s.slot.obj.SemRelease(s.slot.me, false)
		s.slot.obj.Close()
		s.slot = nil
	}
}
