// Package queue defines the storage interface behind pqueue: named FIFO
// queues of binary items with Python's Queue semantics (bounded put, blocking
// get with timeout, join) and a broker's acknowledged delivery (leases,
// done/nack, redelivery with a delivery count, dead-letter queues).
//
// Every backend (the serverless local files of pkg/queue/local, NATS
// JetStream, ...) implements Backend and Queue and passes the conformance
// suite in pkg/queue/queuetest. The pqueue command talks only to these
// interfaces.
//
// Blocking and timeouts are expressed with contexts: an operation that would
// block waits until it can proceed or ctx is done, and then returns
// ctx.Err() (context.DeadlineExceeded for a timeout). With NoWait it returns
// ErrFull or ErrEmpty at once instead.
package queue

import (
	"context"
	"errors"
	"time"
)

// MaxItemSize is the largest item every backend accepts (1 MiB, NATS's
// default max_payload). Larger items are refused with ErrTooLarge.
const MaxItemSize = 1 << 20

// DeadSuffix names a queue's dead-letter queue: items delivered
// MaxDeliveries times without being done move to NAME + DeadSuffix.
const DeadSuffix = ".dead"

// Errors every backend returns (wrapped with context) so callers can test
// them with errors.Is.
var (
	ErrFull         = errors.New("full")                                        // put with NoWait on a queue at MaxSize
	ErrEmpty        = errors.New("empty")                                       // get with NoWait on a queue with nothing ready
	ErrNotFound     = errors.New("no such queue")                               // Open/Remove of a queue that does not exist
	ErrExists       = errors.New("queue exists with a different configuration") // Create with a conflicting Config
	ErrTooLarge     = errors.New("item too large")                              // item longer than MaxItemSize
	ErrUnknownLease = errors.New("lease not held (unknown, expired, or already done)")
	ErrBadLease     = errors.New("not a lease ID") // an ID no get of this backend could have printed
	ErrCorrupt      = errors.New("queue storage is corrupt")
	ErrBadName      = errors.New("invalid queue name")
)

// Config is a queue's configuration, fixed when it is created.
type Config struct {
	// MaxSize bounds the items not yet done (ready, delayed and leased);
	// a put blocks while the queue holds MaxSize items. 0 means unbounded.
	MaxSize int64 `json:"maxsize"`
	// Lease is the default lease for GetOptions.Lease == DefaultLease
	// (what `pqueue get --exec` uses). 0 means DefaultLeaseDuration.
	Lease time.Duration `json:"lease_ns"`
	// MaxDeliveries moves an item to the dead-letter queue NAME.dead
	// instead of delivering it a MaxDeliveries+1st time. 0 means unlimited.
	MaxDeliveries int `json:"max_deliveries"`
	// Durable puts and acknowledgements are on stable storage (fsync)
	// before they return, so they survive an OS crash or power loss.
	// Otherwise they survive the crash of any process but not of the OS.
	Durable bool `json:"durable"`
}

// DefaultLeaseDuration is the lease of a queue created without one.
const DefaultLeaseDuration = 30 * time.Second

// LeaseOrDefault returns c.Lease, or DefaultLeaseDuration when it is 0.
func (c Config) LeaseOrDefault() time.Duration {
	if c.Lease > 0 {
		return c.Lease
	}
	return DefaultLeaseDuration
}

// LeaseFor returns the lease a get or renewal asking for d gets: d, or the
// queue's lease for DefaultLease.
func (c Config) LeaseFor(d time.Duration) time.Duration {
	if d == DefaultLease {
		return c.LeaseOrDefault()
	}
	return d
}

// Backend is a namespace of queues: a directory, a NATS account, ...
type Backend interface {
	// Create creates queue name with cfg. Creating a queue that exists with
	// the same Config succeeds; with a different one it fails with ErrExists.
	Create(ctx context.Context, name string, cfg Config) (Queue, error)
	// Open opens an existing queue, or fails with ErrNotFound.
	Open(ctx context.Context, name string) (Queue, error)
	// Ensure opens queue name, creating it with cfg if it does not exist.
	Ensure(ctx context.Context, name string, cfg Config) (Queue, error)
	// Remove deletes a queue and its items; ErrNotFound if it does not exist.
	Remove(ctx context.Context, name string) error
	// List returns the names of all queues, sorted.
	List(ctx context.Context) ([]string, error)
	// Close releases the backend's resources (connections, files).
	Close() error
}

// Auth is how a client of a queue server proves who it is and checks the
// server's identity (the --token, --user, --creds and --tls-* options of
// pkg/queue/location). Backends without a server have no use for it.
type Auth struct {
	Token    string
	User     string
	Password string
	Creds    string // NATS .creds file (JWT + NKey)
	TLSCA    string // CA to verify the server with
	TLSCert  string // client certificate, with TLSKey
	TLSKey   string
}

// Errors of connecting to a queue server that a retry will not fix: the
// server refused the credentials, or TLS could not be set up (an untrusted
// server certificate, a client certificate required or refused,
// unreadable PEM files).
var (
	ErrRefused = errors.New("credentials refused")
	ErrTLS     = errors.New("TLS failed")
)

// DefaultLease, as GetOptions.Lease, asks for the queue's configured lease.
const DefaultLease time.Duration = -1

// GetOptions selects how Get delivers items.
type GetOptions struct {
	// Lease 0 delivers with auto-acknowledgement (Python's Queue.get: the
	// item is gone once returned). Lease > 0 (or DefaultLease) delivers
	// under a lease: the item comes back (Deliveries+1) unless Done before
	// the lease expires or the holder dies.
	Lease time.Duration
	// HolderPID is the process whose death releases the lease at once
	// (local backends check it; others may ignore it). 0 means none: only
	// expiry releases the lease.
	HolderPID int
	// NoWait returns ErrEmpty at once when nothing is ready.
	NoWait bool
}

// Item is one delivered item.
type Item struct {
	// ID identifies the lease, for Done, Nack, Extend and Attach. It is
	// opaque, a word a shell passes on unchanged (no whitespace, quotes
	// or characters a shell expands) and empty for auto-acknowledged
	// items.
	ID string
	// Data is the item exactly as put.
	Data []byte
	// Deliveries counts how often the item was delivered, this time
	// included (1 on the first delivery).
	Deliveries int
}

// Stats is a snapshot of a queue.
type Stats struct {
	Ready     int64 `json:"ready"`     // items that a get would deliver now or after a nack delay
	Leased    int64 `json:"leased"`    // items delivered under a lease and not yet done
	Delivered int64 `json:"delivered"` // deliveries so far, redeliveries included
	Done      int64 `json:"done"`      // items acknowledged (leased items done, auto-acked gets)
	Dead      int64 `json:"dead"`      // items moved to the dead-letter queue
	MaxSize   int64 `json:"maxsize"`   // Config.MaxSize (0: unbounded)
	Bytes     int64 `json:"bytes"`     // payload bytes of the ready and leased items
	// Redelivered counts the items not yet done that were delivered more
	// than once (ready again after a failure, or leased again), and
	// MostDeliveries is the highest delivery count among the items not
	// yet done (0 where the backend cannot tell): a poison item shows as a
	// growing count.
	Redelivered    int64 `json:"redelivered"`
	MostDeliveries int64 `json:"most_deliveries"`
	// RolledBackTo is set when the newest copy of a local queue's state
	// is damaged and the state fell back to the previous one, of this
	// generation: puts and acknowledgements made after it are lost.
	RolledBackTo uint64 `json:"rolled_back_to,omitempty"`
}

// Backoff is the delay before redelivering an item whose processing failed
// for the deliveries-th time: a second, doubling with each failure, at most
// five minutes. A failing command then costs a few runs a minute instead
// of a spinning CPU, and a transient failure is retried soon.
func Backoff(deliveries int) time.Duration {
	const first, most = time.Second, 5 * time.Minute
	if deliveries < 1 {
		deliveries = 1
	}
	if deliveries > 20 { // past the cap long before; keeps the shift in range
		return most
	}
	return min(first<<(deliveries-1), most)
}

// Queue is one open queue. Its methods are safe for concurrent use by
// several goroutines and processes.
type Queue interface {
	// Name returns the queue's name.
	Name() string
	// Config returns the queue's configuration.
	Config() Config
	// Put appends items in order, as one batch where the backend allows
	// (group commit). While the queue is full it blocks until there is
	// room or ctx is done; with noWait it fails with ErrFull. It returns
	// how many items were put: on error, items[:n] are in the queue and
	// the rest are not.
	Put(ctx context.Context, items [][]byte, noWait bool) (n int, err error)
	// Get delivers between 1 and max items in FIFO order (redeliveries
	// first), blocking until at least one is ready or ctx is done.
	Get(ctx context.Context, max int, opt GetOptions) ([]Item, error)
	// Done acknowledges leased items: they are gone for good. An ID whose
	// lease is no longer held fails with ErrUnknownLease; the others are
	// still acknowledged.
	Done(ctx context.Context, ids ...string) error
	// Nack gives a leased item back: it is delivered again after delay
	// (or moved to the dead-letter queue once MaxDeliveries is reached).
	Nack(ctx context.Context, id string, delay time.Duration) error
	// Extend renews a lease for d from now (a worker still busy).
	Extend(ctx context.Context, id string, d time.Duration) error
	// Attach records that process group pgid works on the item of lease
	// id (the command `pqueue get --exec` started on it; the lease is
	// taken before the command starts, so the group comes after). A
	// backend that frees a lease when its holder dies (HolderPID) then
	// frees this one only once the group has no live member either, so
	// that an orphaned command and the item's next delivery never run at
	// once. Expiry still ends the lease. Backends whose leases end only by
	// expiry just check the ID.
	Attach(ctx context.Context, id string, pgid int) error
	// Stats returns the queue's counters.
	Stats(ctx context.Context) (Stats, error)
	// Join blocks until nothing is ready or leased (every item put has
	// been done: JoinableQueue.join), or ctx is done.
	Join(ctx context.Context) error
	// Purge drops every ready and delayed item (leased ones stay until
	// done or nacked) and returns how many it dropped.
	Purge(ctx context.Context) (int64, error)
	// Close releases the queue's resources. Leases stay held.
	Close() error
}
