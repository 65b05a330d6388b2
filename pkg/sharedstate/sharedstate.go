// Package sharedstate is what pshm's commands need from a place that keeps
// shared state: values and arrays, locks and semaphores held under a lease,
// events, barriers and dicts, listed and removed by name. Two stores
// implement it: Local, over the POSIX shared memory objects of pkg/shm on
// one machine, and pkg/sharedstate/natsstate, over a NATS JetStream
// key-value bucket shared by many machines. pkg/sharedstate/statetest is
// the conformance suite both pass.
//
// Errors are pkg/shm's (shm.ErrNotExist, shm.ErrExist, shm.ErrWrongKind,
// shm.ErrNoKey, ...), whichever the store, so callers tell them apart the
// same way.
package sharedstate

import (
	"context"
	"errors"
	"time"

	"github.com/pkit-sh/pkit/pkg/shm"
)

// DefaultTTL is the lease of a held slot when Acquire is given none, in
// stores whose leases have a TTL.
const DefaultTTL = 10 * time.Second

// ErrLeaseLost ends a lease that could not be renewed before it ran out:
// another holder may have the lock now.
var ErrLeaseLost = errors.New("lease lost")

// Object is an object's shape and, where asked for, its contents.
type Object struct {
	Name string
	Spec shm.Spec // Kind; Type and Len of values; slots, parties, dict sizes

	Values  []shm.Value       // a value's elements
	Items   map[string]string // a dict's entries
	IsSet   bool              // an event's state
	Waiting int               // processes at a barrier
	Holders int               // held slots of a lock or semaphore
}

// Store keeps named shared objects. Its methods are safe for concurrent
// use. Operations on values take the index of one element.
type Store interface {
	// Create makes an object of spec with the values init (values only).
	// An existing one is an error (shm.ErrExist) unless existOK and it
	// has the same shape; created tells the two apart.
	Create(ctx context.Context, name string, spec shm.Spec, existOK bool, init []shm.Value) (created bool, err error)
	// Stat returns an object's shape and contents.
	Stat(ctx context.Context, name string) (Object, error)
	// Set stores vals from element i on.
	Set(ctx context.Context, name string, i int, vals []shm.Value) error
	// Add adds delta to element i and returns the new value.
	Add(ctx context.Context, name string, i int, delta shm.Value) (shm.Value, error)
	// CAS stores new in element i if it holds old; else it returns false
	// and what it holds.
	CAS(ctx context.Context, name string, i int, old, new shm.Value) (bool, shm.Value, error)
	// Wait returns element i's value once it satisfies c.
	Wait(ctx context.Context, name string, i int, c shm.Cond) (shm.Value, error)

	// Acquire takes a slot of the semaphore name (a lock when slots is 0),
	// creating it with slots slots on first use, and waits as long as ctx
	// allows. ttl is the lease of stores that need one (0: the store's
	// default).
	Acquire(ctx context.Context, name string, slots int, ttl time.Duration) (Lease, error)

	// ReleaseFence gives back the slot of name held by the acquisition
	// with token fence, for a holder that has exited leaving its lease
	// (pshm lock --acquire). ErrLeaseLost if no slot has that token now.
	ReleaseFence(ctx context.Context, name string, fence uint64) error

	// SetEvent sets or clears an event, created on first use.
	SetEvent(ctx context.Context, name string, set bool) error
	// WaitEvent returns once the event is set.
	WaitEvent(ctx context.Context, name string) error
	// Barrier waits until parties callers have arrived; one that gives up
	// (ctx) no longer counts as arrived.
	Barrier(ctx context.Context, name string, parties int) error

	// DictSet sets key, creating the dict on first use.
	DictSet(ctx context.Context, name, key, val string) error
	// DictGet returns key's value (shm.ErrNoKey if it has none).
	DictGet(ctx context.Context, name, key string) (string, error)
	// DictDel deletes key (shm.ErrNoKey if it has none).
	DictDel(ctx context.Context, name, key string) error

	// List returns every object, without contents.
	List(ctx context.Context) ([]Object, error)
	// Remove deletes an object.
	Remove(ctx context.Context, name string) error
	// Close releases the store's resources (not its objects).
	Close() error
}

// Lease is a held slot of a lock or semaphore.
type Lease interface {
	// Fence is the slot's fencing token: larger for every later
	// acquisition of the same lock, 0 from a store without fencing.
	Fence() uint64
	// Lost is closed when the lease ended without Release (its TTL ran out
	// before it could be renewed); nil for a store whose leases end only
	// with their holder.
	Lost() <-chan struct{}
	// Release gives the slot back.
	Release() error
}
