// Package local is pqueue's serverless backend: each queue is a directory of
// append-only segment files holding CRC-framed records, and a small state
// file with the head and tail positions and a table of leased items. Every
// operation takes a short flock on the state file, so any number of
// producers and consumers in separate processes share a queue without a
// daemon, and a process killed at any instant leaves a queue that the next
// operation repairs (see recover).
//
// Durability: an operation's writes are in the kernel's page cache when it
// returns, so they survive the crash of any process. A queue created
// Durable also fsyncs them (data first, then the header), so they survive
// an OS crash or power loss too.
//
// Blocked operations sleep on inotify events of the state file (and on
// pidfds of lease holders, and a timer for the next lease expiry): no
// polling.
package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pkit-sh/pkit/pkg/queue"
)

// DefaultSegmentSize is the size at which a segment file is closed and a
// new one started; a fully consumed segment is deleted.
const DefaultSegmentSize = 64 << 20

// maxNameLen leaves room for dead-letter names (NAME.dead.dead...) and the
// temporary names used while creating and removing queues.
const maxNameLen = 200

// Backend is a directory of queues.
type Backend struct {
	dir     string
	segSize int64
}

// Options tunes a Backend; the zero value is the default.
type Options struct {
	SegmentSize int64 // bytes per segment file; 0 means DefaultSegmentSize
}

// New returns the backend of the queues in dir, which must exist.
func New(dir string, opt Options) *Backend {
	if opt.SegmentSize <= 0 {
		opt.SegmentSize = DefaultSegmentSize
	}
	return &Backend{dir: dir, segSize: opt.SegmentSize}
}

// Dir returns the directory of the queues.
func (b *Backend) Dir() string { return b.dir }

// ValidName checks a queue name: 1–200 characters from [A-Za-z0-9._@+-],
// not starting with '.' or '-', without "..".
func ValidName(name string) error {
	bad := name == "" || len(name) > maxNameLen || strings.Contains(name, "..") || name[0] == '.' || name[0] == '-'
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._@+-", r)) {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%w %q", queue.ErrBadName, name)
	}
	return nil
}

// Create implements queue.Backend. The queue's directory is built under a
// temporary name and renamed into place, so a crash never leaves a
// half-made queue.
func (b *Backend) Create(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if cfg.MaxSize < 0 || cfg.Lease < 0 || cfg.MaxDeliveries < 0 {
		return nil, fmt.Errorf("queue %q: negative maxsize, lease or max-deliveries", name)
	}
	q, err := b.Open(ctx, name)
	if err == nil {
		if q.Config() != cfg {
			q.Close()
			return nil, fmt.Errorf("queue %q: %w (%s)", name, queue.ErrExists, describe(q.Config()))
		}
		return q, nil
	}
	if !errors.Is(err, queue.ErrNotFound) {
		return nil, err
	}
	tmp, err := os.MkdirTemp(b.dir, ".new-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("create queue %q: %w", name, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := writeInitialState(filepath.Join(tmp, stateFile), cfg); err != nil {
		return nil, fmt.Errorf("create queue %q: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(b.dir, name)); err != nil {
		if !errors.Is(err, fs.ErrExist) && !errors.Is(err, errNotEmpty) {
			return nil, fmt.Errorf("create queue %q: %w", name, err)
		}
		// Another process created it first: compare configurations.
		return b.Create(ctx, name, cfg)
	}
	if cfg.Durable {
		if err := syncDir(b.dir); err != nil {
			return nil, fmt.Errorf("create queue %q: %w", name, err)
		}
	}
	return b.Open(ctx, name)
}

func describe(c queue.Config) string {
	return fmt.Sprintf("maxsize %d, lease %v, max-deliveries %d, durable %v", c.MaxSize, c.LeaseOrDefault(), c.MaxDeliveries, c.Durable)
}

// Open implements queue.Backend.
func (b *Backend) Open(ctx context.Context, name string) (queue.Queue, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	return openQueue(b, name)
}

// Ensure implements queue.Backend.
func (b *Backend) Ensure(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	q, err := b.Open(ctx, name)
	if errors.Is(err, queue.ErrNotFound) {
		q, err = b.Create(ctx, name, cfg)
		if errors.Is(err, queue.ErrExists) { // created meanwhile with another config
			return b.Open(ctx, name)
		}
	}
	return q, err
}

// Remove implements queue.Backend. The directory is renamed away first,
// so the queue vanishes at once; blocked waiters wake and fail.
func (b *Backend) Remove(ctx context.Context, name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	path := filepath.Join(b.dir, name)
	if _, err := os.Stat(filepath.Join(path, stateFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("queue %q: %w", name, queue.ErrNotFound)
		}
		return fmt.Errorf("remove queue %q: %w", name, err)
	}
	gone, err := os.MkdirTemp(b.dir, ".rm-"+name+"-")
	if err != nil {
		return fmt.Errorf("remove queue %q: %w", name, err)
	}
	defer os.RemoveAll(gone)
	if err := os.Rename(path, filepath.Join(gone, name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("queue %q: %w", name, queue.ErrNotFound)
		}
		return fmt.Errorf("remove queue %q: %w", name, err)
	}
	return nil
}

// List implements queue.Backend.
func (b *Backend) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Close implements queue.Backend; a directory holds nothing open.
func (b *Backend) Close() error { return nil }

var _ queue.Backend = (*Backend)(nil)
