package shm

import (
	"context"
	"fmt"
	"time"

	"github.com/pkit-sh/pkit/pkg/lifetime"
)

// Owner identifies a process across PID reuse: its PID and the low 32 bits
// of its start time (clock ticks after boot, /proc/PID/stat field 22). In
// shared memory it is one 64-bit word, PID in the low 30 bits (Linux PIDs
// stay below 2^22) and the start time in the high 32, so an owner is set
// and taken over with a single compare-and-swap.
type Owner struct {
	PID   int
	Start uint32
}

const (
	pidMask    = 1<<30 - 1
	waitersBit = 1 << 31 // in a lock word: someone may be sleeping on it
)

func (o Owner) word() uint64 { return uint64(o.Start)<<32 | uint64(o.PID)&pidMask }

func ownerOf(w uint64) Owner { return Owner{PID: int(w & pidMask), Start: uint32(w >> 32)} }

// A group word records the process group of the command that the holder
// of a lock or a semaphore slot runs under it, in the owner word's format:
// the group's ID (its leader's PID) and the leader's start time; 0 when
// there is none. A dead holder's lock or slot is free only once that group
// has no live member, so that no two commands are ever inside at once.

// GroupOf identifies the process group led by pgid, which must not have
// been reaped yet (it may have exited: its group can outlive it).
func GroupOf(pgid int) (Owner, error) {
	if pgid <= 0 || pgid > pidMask {
		return Owner{}, fmt.Errorf("invalid process group %d", pgid)
	}
	return Owner{PID: pgid, Start: startOf(pgid)}, nil
}

// groupGone reports whether the group recorded in word w has no live
// member left. A running process with the leader's PID but another start
// time means the ID was reused, which the kernel does only once the group
// has emptied.
func groupGone(w uint64) bool {
	if w == 0 {
		return true
	}
	g := ownerOf(w)
	if g.Alive() {
		return false
	}
	return g.reused() || lifetime.Gone(g.PID)
}

// Shortest and longest sleep between two looks at a dead holder's group:
// no kernel object tells when a group empties.
const (
	recheckMin = 2 * time.Millisecond
	recheckMax = 100 * time.Millisecond
)

// recheck sleeps on addr while it holds val, watching the processes in
// watch as block does, but at most d. It returns ctx's error if ctx ended,
// else nil so that the caller looks again.
func recheck(ctx context.Context, addr *uint32, val uint32, watch []Owner, d time.Duration) error {
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	block(c, addr, val, watch)
	return ctx.Err()
}
