// Package natsstate is the sharedstate.Store of a NATS JetStream server
// (such as pqueued): pshm's objects shared by processes on many machines.
//
// Everything lives in one key-value bucket, PKIT_SHM. An object is one key,
// o.<hex name>, holding its shape and contents as JSON; every change is a
// compare-and-set on the key's revision, retried on conflict, and waits
// watch the key. A held slot of a lock or semaphore is the key
// l.<hex name>.<slot>, created with a per-key TTL and renewed while it is
// held; the revision that created it is its fencing token, strictly
// increasing because it is the bucket stream's sequence number.
package natsstate

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
	"github.com/pkit-sh/pkit/pkg/sharedstate"
	"github.com/pkit-sh/pkit/pkg/shm"
)

const (
	// Bucket is the key-value bucket of every object.
	Bucket = "PKIT_SHM"
	// MinTTL is the shortest lease: renewals and the holder's shutdown
	// both happen within it.
	MinTTL = time.Second
	// markerTTL is how long the bucket keeps the marker of a key whose TTL
	// ran out: watchers of a lock learn of the expiry from it.
	markerTTL = time.Minute
)

// Store is a JetStream key-value bucket seen as a namespace of objects.
type Store struct {
	nc *nats.Conn
	kv jetstream.KeyValue
}

var _ sharedstate.Store = (*Store)(nil)

// Dial connects to the server at url and opens the bucket, creating it on
// first use. Refused credentials and TLS failures wrap queue.ErrRefused and
// queue.ErrTLS.
func Dial(url string, auth queue.Auth) (*Store, error) {
	return natsq.DialWith(url, auth, "pshm", "PSHM_", New)
}

// Open is Dial as a pshm Dialer.
func Open(url string, auth queue.Auth) (sharedstate.Store, error) {
	s, err := Dial(url, auth)
	if err != nil {
		return nil, err // not a nil *Store in a non-nil interface
	}
	return s, nil
}

// New opens the bucket over an existing connection, which Close closes.
func New(nc *nats.Conn) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: Bucket, History: 1, Storage: jetstream.FileStorage, LimitMarkerTTL: markerTTL,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", Bucket, err)
	}
	return &Store{nc: nc, kv: kv}, nil
}

// Conn is the store's connection (benchmarks compare with raw KV calls).
func (s *Store) Conn() *nats.Conn { return s.nc }

// KV is the store's bucket.
func (s *Store) KV() jetstream.KeyValue { return s.kv }

func (s *Store) Close() error {
	s.nc.Close()
	return nil
}

func objKey(name string) string    { return "o." + hex.EncodeToString([]byte(name)) }
func leaseKeys(name string) string { return "l." + hex.EncodeToString([]byte(name)) + ".*" }
func leaseKey(name string, slot int) string {
	return "l." + hex.EncodeToString([]byte(name)) + "." + strconv.Itoa(slot)
}

// elem is one element of a value: Bits of a number, Raw of a string.
type elem struct {
	B uint64 `json:"b,omitempty"`
	R []byte `json:"r,omitempty"`
}

// doc is an object as stored under its key.
type doc struct {
	Kind    string            `json:"kind"`
	Type    string            `json:"type,omitempty"`
	Len     int               `json:"len,omitempty"`
	KeySize int               `json:"key_size,omitempty"`
	ValSize int               `json:"value_size,omitempty"`
	Vals    []elem            `json:"vals,omitempty"`
	Items   map[string]string `json:"items,omitempty"`
	Set     bool              `json:"set,omitempty"`
	Waiting int               `json:"waiting,omitempty"`
	Gen     uint64            `json:"gen,omitempty"`

	typ shm.Type // parsed Type
}

// kind is the stored kind name read back: the kind whose name it is, or
// the zero Kind for a name no kind has.
func (d *doc) kind() shm.Kind {
	for k := shm.KindValue; k <= shm.KindDict; k++ {
		if k.String() == d.Kind {
			return k
		}
	}
	return 0
}

func (d *doc) value(i int) shm.Value {
	return shm.Value{Type: d.typ, Bits: d.Vals[i].B, Raw: d.Vals[i].R}
}

func (d *doc) object(name string) sharedstate.Object {
	ob := sharedstate.Object{Name: name, Spec: shm.Spec{Kind: d.kind(), Type: d.typ, Len: d.Len, KeySize: d.KeySize, ValSize: d.ValSize},
		Items: d.Items, IsSet: d.Set, Waiting: d.Waiting}
	for i := range d.Vals {
		ob.Values = append(ob.Values, d.value(i))
	}
	if ob.Spec.Kind == shm.KindDict && ob.Items == nil {
		ob.Items = map[string]string{}
	}
	return ob
}

func decode(name string, e jetstream.KeyValueEntry) (*doc, error) { return decodeDoc(name, e.Value()) }

// decodeDoc parses an object as stored: anything a client of the bucket
// wrote, so it is checked before use.
func decodeDoc(name string, b []byte) (*doc, error) {
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: bad object in bucket %s: %w", name, Bucket, err)
	}
	if d.Type != "" {
		t, err := shm.ParseType(d.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: bad object in bucket %s: %w", name, Bucket, err)
		}
		d.typ = t
	}
	switch k := d.kind(); {
	case k == 0:
		return nil, fmt.Errorf("%s: bad object in bucket %s: kind %q", name, Bucket, d.Kind)
	case k == shm.KindValue && (d.Type == "" || d.Len < 1 || len(d.Vals) != d.Len):
		return nil, fmt.Errorf("%s: bad value in bucket %s: type %q, %d of %d element(s)", name, Bucket, d.Type, len(d.Vals), d.Len)
	}
	return &d, nil
}

func newDoc(spec shm.Spec) *doc {
	d := &doc{Kind: spec.Kind.String(), Len: spec.Len, KeySize: spec.KeySize, ValSize: spec.ValSize, typ: spec.Type}
	switch spec.Kind {
	case shm.KindValue:
		d.Type = spec.Type.String()
		d.Vals = make([]elem, spec.Len)
	case shm.KindLock:
		d.Len = 1
	}
	return d
}

// get reads name's object (shm.ErrNotExist if there is none).
func (s *Store) get(ctx context.Context, name string) (*doc, uint64, error) {
	e, err := s.kv.Get(ctx, objKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%s: %w", name, shm.ErrNotExist)
	}
	if err != nil {
		return nil, 0, err
	}
	d, err := decode(name, e)
	return d, e.Revision(), err
}

// conflict reports a compare-and-set that lost: the key is not at the
// revision given.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// errStop ends an update without writing.
var errStop = errors.New("no change")

// update applies f to name's object and stores the result if the object
// has not changed in between, else reads it again and retries. When the
// object does not exist and create is set, f gets create's fresh object
// to fill. f returns errStop to leave the object as it is.
func (s *Store) update(ctx context.Context, name string, create *shm.Spec, f func(d *doc) error) error {
	key := objKey(name)
	for {
		d, rev, err := s.get(ctx, name)
		if errors.Is(err, shm.ErrNotExist) && create != nil {
			d = newDoc(*create)
		} else if err != nil {
			return err
		}
		if err := f(d); err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		if conflict(err) {
			continue // changed since we read it
		}
		return err
	}
}

// kindError is the error of an object of the wrong kind.
func kindError(name string, d *doc, want shm.Kind) error {
	return fmt.Errorf("%s is a %s, not a %s: %w", name, d.Kind, want, shm.ErrWrongKind)
}

func (s *Store) Create(ctx context.Context, name string, spec shm.Spec, existOK bool, init []shm.Value) (bool, error) {
	if spec.Kind == shm.KindValue && len(init) > spec.Len {
		return false, fmt.Errorf("%d values for %d element(s)", len(init), spec.Len)
	}
	d := newDoc(spec)
	for i, v := range init {
		d.Vals[i] = elem{B: v.Bits, R: v.Raw}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return false, err
	}
	_, err = s.kv.Create(ctx, objKey(name), b)
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return err == nil, err
	}
	old, _, err := s.get(ctx, name)
	if err != nil {
		return false, err
	}
	if !existOK {
		return false, fmt.Errorf("%s: %w", name, shm.ErrExist)
	}
	if old.Kind != d.Kind || old.Type != d.Type || old.Len != d.Len || old.KeySize != d.KeySize || old.ValSize != d.ValSize {
		return false, fmt.Errorf("%s exists with another type or length: %w", name, shm.ErrWrongKind)
	}
	return false, nil
}

func (s *Store) Stat(ctx context.Context, name string) (sharedstate.Object, error) {
	d, _, err := s.get(ctx, name)
	if err != nil {
		return sharedstate.Object{}, err
	}
	ob := d.object(name)
	if k := d.kind(); k == shm.KindLock || k == shm.KindSem {
		ob.Holders, err = s.holders(ctx, name)
	}
	return ob, err
}

// holders counts the held slots of name.
func (s *Store) holders(ctx context.Context, name string) (int, error) {
	l, err := s.kv.ListKeysFiltered(ctx, leaseKeys(name))
	if err != nil {
		return 0, err
	}
	n := 0
	for range l.Keys() {
		n++
	}
	return n, nil
}

// element checks that d is a value with element i (n elements from i).
func element(name string, d *doc, i, n int) error {
	if d.kind() != shm.KindValue {
		return kindError(name, d, shm.KindValue)
	}
	if i < 0 || n < 1 || i+n > len(d.Vals) {
		return fmt.Errorf("%s has %d element(s): index %d out of range", name, len(d.Vals), i+n-1)
	}
	return nil
}

func (s *Store) Set(ctx context.Context, name string, i int, vals []shm.Value) error {
	return s.update(ctx, name, nil, func(d *doc) error {
		if err := element(name, d, i, len(vals)); err != nil {
			return err
		}
		for k, v := range vals {
			d.Vals[i+k] = elem{B: v.Bits, R: v.Raw}
		}
		return nil
	})
}

func (s *Store) Add(ctx context.Context, name string, i int, delta shm.Value) (shm.Value, error) {
	var v shm.Value
	err := s.update(ctx, name, nil, func(d *doc) error {
		if err := element(name, d, i, 1); err != nil {
			return err
		}
		var err error
		if v, err = shm.Sum(d.value(i), delta); err != nil {
			return err
		}
		d.Vals[i] = elem{B: v.Bits, R: v.Raw}
		return nil
	})
	return v, err
}

func (s *Store) CAS(ctx context.Context, name string, i int, old, new shm.Value) (bool, shm.Value, error) {
	var cur shm.Value
	ok := false
	err := s.update(ctx, name, nil, func(d *doc) error {
		if err := element(name, d, i, 1); err != nil {
			return err
		}
		if cur = d.value(i); shm.Compare(cur, old) != 0 || cur.String() != old.String() {
			return errStop
		}
		d.Vals[i], ok = elem{B: new.Bits, R: new.Raw}, true
		return nil
	})
	return ok, cur, err
}

// watch calls f with name's object now and after every change (nil once
// it is deleted), until f returns true or an error, or ctx ends.
func (s *Store) watch(ctx context.Context, name string, f func(d *doc) (bool, error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.kv.Watch(ctx, objKey(name))
	if err != nil {
		return err
	}
	defer w.Stop()
	seen := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return ctx.Err()
			}
			var d *doc
			switch {
			case e == nil: // the initial values have been delivered
				if seen {
					continue
				}
				return fmt.Errorf("%s: %w", name, shm.ErrNotExist)
			case e.Operation() == jetstream.KeyValuePut:
				if d, err = decode(name, e); err != nil {
					return err
				}
			}
			seen = true
			if done, err := f(d); done || err != nil {
				return err
			}
		}
	}
}

func (s *Store) Wait(ctx context.Context, name string, i int, c shm.Cond) (shm.Value, error) {
	var v shm.Value
	err := s.watch(ctx, name, func(d *doc) (bool, error) {
		if d == nil {
			return false, fmt.Errorf("%s: %w", name, shm.ErrNotExist)
		}
		if err := element(name, d, i, 1); err != nil {
			return false, err
		}
		v = d.value(i)
		return c.Holds(v), nil
	})
	return v, err
}

func (s *Store) SetEvent(ctx context.Context, name string, set bool) error {
	return s.update(ctx, name, &shm.Spec{Kind: shm.KindEvent}, func(d *doc) error {
		if d.kind() != shm.KindEvent {
			return kindError(name, d, shm.KindEvent)
		}
		d.Set = set
		return nil
	})
}

func (s *Store) WaitEvent(ctx context.Context, name string) error {
	if _, err := s.Create(ctx, name, shm.Spec{Kind: shm.KindEvent}, true, nil); err != nil {
		return err
	}
	return s.watch(ctx, name, func(d *doc) (bool, error) {
		switch {
		case d == nil:
			return false, fmt.Errorf("%s: %w", name, shm.ErrNotExist)
		case d.kind() != shm.KindEvent:
			return false, kindError(name, d, shm.KindEvent)
		}
		return d.Set, nil
	})
}

func (s *Store) Barrier(ctx context.Context, name string, parties int) error {
	var gen uint64
	released := false
	err := s.update(ctx, name, &shm.Spec{Kind: shm.KindBarrier, Len: parties}, func(d *doc) error {
		switch {
		case d.kind() != shm.KindBarrier:
			return kindError(name, d, shm.KindBarrier)
		case d.Len != parties:
			return fmt.Errorf("barrier %s has %d parties, not %d: %w", name, d.Len, parties, shm.ErrWrongKind)
		}
		gen, released = d.Gen, d.Waiting+1 == d.Len
		if released {
			d.Waiting, d.Gen = 0, d.Gen+1
		} else {
			d.Waiting++
		}
		return nil
	})
	if err != nil || released {
		return err
	}
	err = s.watch(ctx, name, func(d *doc) (bool, error) {
		if d == nil {
			return false, fmt.Errorf("%s: %w", name, shm.ErrNotExist)
		}
		return d.Gen != gen, nil
	})
	if err == nil || ctx.Err() == nil {
		return err
	}
	// Given up: withdraw, unless the barrier opened meanwhile.
	left, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.update(left, name, nil, func(d *doc) error {
		if d.Gen != gen || d.Waiting == 0 {
			err = nil
			return errStop
		}
		d.Waiting--
		return nil
	})
	return err
}

func (s *Store) dict(ctx context.Context, name string, create bool, f func(d *doc) error) error {
	var spec *shm.Spec
	if create {
		spec = &shm.Spec{Kind: shm.KindDict, Len: shm.DefaultDictLen, KeySize: shm.DefaultDictKeySize, ValSize: shm.DefaultDictValSize}
	}
	return s.update(ctx, name, spec, func(d *doc) error {
		if d.kind() != shm.KindDict {
			return kindError(name, d, shm.KindDict)
		}
		return f(d)
	})
}

func (s *Store) DictSet(ctx context.Context, name, key, val string) error {
	return s.dict(ctx, name, true, func(d *doc) error {
		switch {
		case key == "" || len(key) > d.KeySize:
			return fmt.Errorf("key %q: want 1 to %d bytes", key, d.KeySize)
		case len(val) > d.ValSize:
			return fmt.Errorf("value of %q is %d bytes, more than %d", key, len(val), d.ValSize)
		case d.Items == nil:
			d.Items = map[string]string{}
		}
		if _, ok := d.Items[key]; !ok && len(d.Items) >= d.Len {
			return fmt.Errorf("%s: %w", name, shm.ErrDictFull)
		}
		d.Items[key] = val
		return nil
	})
}

func (s *Store) DictGet(ctx context.Context, name, key string) (string, error) {
	d, _, err := s.get(ctx, name)
	if err != nil {
		return "", err
	}
	if d.kind() != shm.KindDict {
		return "", kindError(name, d, shm.KindDict)
	}
	v, ok := d.Items[key]
	if !ok {
		return "", shm.ErrNoKey
	}
	return v, nil
}

func (s *Store) DictDel(ctx context.Context, name, key string) error {
	return s.dict(ctx, name, false, func(d *doc) error {
		if _, ok := d.Items[key]; !ok {
			return shm.ErrNoKey
		}
		delete(d.Items, key)
		return nil
	})
}

func (s *Store) List(ctx context.Context) ([]sharedstate.Object, error) {
	l, err := s.kv.ListKeysFiltered(ctx, "o.*")
	if err != nil {
		return nil, err
	}
	var names []string
	for k := range l.Keys() {
		if b, err := hex.DecodeString(strings.TrimPrefix(k, "o.")); err == nil {
			names = append(names, string(b))
		}
	}
	slices.Sort(names)
	var out []sharedstate.Object
	for _, n := range names {
		ob, err := s.Stat(ctx, n)
		if errors.Is(err, shm.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return out, err
		}
		ob.Values, ob.Items = nil, nil
		out = append(out, ob)
	}
	return out, nil
}

// Remove deletes the object; slots held of a lock or semaphore of that
// name stay held until released or expired.
func (s *Store) Remove(ctx context.Context, name string) error {
	if _, _, err := s.get(ctx, name); err != nil {
		return err
	}
	return s.kv.Purge(ctx, objKey(name))
}

// lease is a held slot: its key, renewed until released or lost.
type lease struct {
	s     *Store
	key   string
	fence uint64
	ttl   time.Duration

	lost chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu  sync.Mutex
	rev uint64 // the key's revision after the last renewal
}

func (l *lease) Fence() uint64         { return l.fence }
func (l *lease) Lost() <-chan struct{} { return l.lost }

// Release stops the renewals and deletes the slot's key, if it is still
// ours (a lost lease's key may be someone else's now).
func (l *lease) Release() error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	select {
	case <-l.lost:
		return sharedstate.ErrLeaseLost
	default:
	}
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl)
	defer cancel()
	err := l.s.kv.Delete(ctx, l.key, jetstream.LastRevision(rev))
	if conflict(err) {
		return sharedstate.ErrLeaseLost
	}
	return err
}

// renew keeps the lease alive: it republishes the key with a fresh TTL
// every quarter of the TTL, on condition that the key is still at our
// revision. The lease is lost when a renewal is refused (the key expired
// or changed hands), or when none has succeeded for three quarters of the
// TTL, leaving the last quarter for the holder to stop its command before
// the server frees the slot. The server counts the TTL from when it
// stores the renewal, after we sent it, so the holder stops in time
// whatever the clocks say.
func (l *lease) renew(since time.Time) {
	defer close(l.done)
	subject := "$KV." + Bucket + "." + l.key
	js, _ := jetstream.New(l.s.nc)
	deadline := since.Add(l.ttl * 3 / 4)
	tick := time.NewTimer(l.ttl / 4)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-time.After(time.Until(deadline)):
			close(l.lost)
			return
		case <-tick.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		l.mu.Lock()
		rev := l.rev
		l.mu.Unlock()
		ack, err := js.Publish(ctx, subject, []byte(strconv.FormatUint(l.fence, 10)),
			jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(l.ttl))
		cancel()
		switch {
		case err == nil:
			l.mu.Lock()
			l.rev = ack.Sequence
			l.mu.Unlock()
			deadline = sent.Add(l.ttl * 3 / 4)
			tick.Reset(l.ttl / 4)
		case conflict(err):
			close(l.lost) // the key expired or changed hands: not ours
			return
		default:
			// Unreachable or busy for now: try again soon, until the
			// deadline.
			tick.Reset(min(l.ttl/20, 100*time.Millisecond))
		}
	}
}

// ReleaseFence deletes the slot key of name whose revision is fence: one
// created with that token and not renewed since.
func (s *Store) ReleaseFence(ctx context.Context, name string, fence uint64) error {
	l, err := s.kv.ListKeysFiltered(ctx, leaseKeys(name))
	if err != nil {
		return err
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if e, err := s.kv.Get(ctx, k); err != nil || e.Revision() != fence {
			continue
		}
		err := s.kv.Delete(ctx, k, jetstream.LastRevision(fence))
		if conflict(err) {
			break
		}
		return err
	}
	return fmt.Errorf("%s: no slot held with token %d (its TTL may have ended): %w", name, fence, sharedstate.ErrLeaseLost)
}

// Acquire takes a slot of name: the first of its slot keys it can create.
// When every slot is held it watches them and tries again as one is
// deleted or expires.
func (s *Store) Acquire(ctx context.Context, name string, slots int, ttl time.Duration) (sharedstate.Lease, error) {
	if ttl == 0 {
		ttl = sharedstate.DefaultTTL
	}
	if ttl < MinTTL {
		return nil, fmt.Errorf("lease TTL %s is shorter than %s", ttl, MinTTL)
	}
	spec := shm.Spec{Kind: shm.KindLock}
	if slots > 0 {
		spec = shm.Spec{Kind: shm.KindSem, Len: slots}
	}
	n := 1
	if _, err := s.Create(ctx, name, spec, true, nil); err != nil {
		d, _, gerr := s.get(ctx, name)
		switch {
		case gerr != nil:
			return nil, gerr
		case slots > 0 && d.kind() != shm.KindSem:
			return nil, kindError(name, d, shm.KindSem)
		case slots > 0:
			return nil, fmt.Errorf("sem %s has n=%d, not %d: %w", name, d.Len, slots, shm.ErrWrongKind)
		}
		// A lock on another kind of object: its own lock.
	} else if slots > 0 {
		n = slots
	}
	w, err := s.kv.Watch(ctx, leaseKeys(name), jetstream.UpdatesOnly(), jetstream.MetaOnly())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	for {
		start := time.Now()
		for slot := range n {
			key := leaseKey(name, slot)
			rev, err := s.kv.Create(ctx, key, []byte(strconv.Itoa(slot)), jetstream.KeyTTL(ttl))
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			if err != nil {
				return nil, err
			}
			l := &lease{s: s, key: key, fence: rev, rev: rev, ttl: ttl,
				lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.renew(start)
			return l, nil
		}
		// Wait for a slot to be deleted, purged or to expire; try again
		// after a TTL anyway, in case its marker was missed.
		retry := time.NewTimer(ttl)
	wait:
		for {
			select {
			case <-ctx.Done():
				retry.Stop()
				return nil, ctx.Err()
			case <-retry.C:
				break wait
			case e, ok := <-w.Updates():
				if !ok {
					retry.Stop()
					return nil, ctx.Err()
				}
				if e != nil && e.Operation() != jetstream.KeyValuePut {
					retry.Stop()
					break wait
				}
			}
		}
	}
}
