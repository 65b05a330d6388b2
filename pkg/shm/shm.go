// Package shm implements pkit's shared objects: typed values and arrays,
// robust locks, counting semaphores, events, barriers and bounded dicts, each
// one file in the POSIX shared-memory namespace (/dev/shm/NAME on Linux, the
// file shm_open("/NAME") and Python's SharedMemory(name=NAME) open), mapped
// MAP_SHARED. Every object starts with a fixed 128-byte header (see Header);
// the data follows at DataOffset so other languages can attach to it.
//
// All state lives in the mapping, not in file descriptors: a lock is a
// 64-bit word holding its owner's PID and start time, so a dead holder is
// recognised and recovered at once, and a command run under the lock cannot
// pass it on to its background children. Waits sleep on futexes in the
// shared mapping (FUTEX_WAIT/FUTEX_WAKE without _PRIVATE); on darwin, which
// has no futex, they poll every millisecond.
package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Header layout (little-endian on every platform pkit supports). Offsets are
// part of the on-disk format; bump Version when they change.
const (
	Magic   = "PKITSHM\x00"
	Version = 1

	offMagic     = 0   // [8]byte "PKITSHM\0"
	offVersion   = 8   // uint16
	offKind      = 10  // uint8, a Kind
	offType      = 11  // uint8, an element type code (values only)
	offElemSize  = 12  // uint32, bytes per element (per slot for sem and dict)
	offLen       = 16  // uint64, elements, semaphore slots, barrier parties or dict capacity
	offDataOff   = 24  // uint64, where the data starts (DataOffset)
	offDataSize  = 32  // uint64, bytes of data
	offKeySize   = 40  // uint32, dict: bytes per key
	offValSize   = 44  // uint32, dict: bytes per value
	offLock      = 48  // uint64, the user lock (pshm lock NAME): owner word, see Mutex
	offOpLock    = 56  // uint64, internal lock for multi-word operations (strings, dicts)
	offSeq       = 64  // uint32, bumped after every change; futex word for waiters
	offSeqWait   = 68  // uint32, number of processes sleeping on seq
	offCreated   = 72  // int64, creation time in Unix nanoseconds
	offLockGroup = 80  // uint64, the user lock's group word (see GroupOf); 0 in objects of older pshm
	HeaderSize   = 128 // bytes 88..127 are reserved (zero)
	DataOffset   = HeaderSize
	maxObjectLen = 1 << 40
)

// Kind is what an object is.
type Kind uint8

// Kinds of objects.
const (
	KindValue   Kind = 1 // typed value or array
	KindLock    Kind = 2 // a lock with no data (every object also has a lock)
	KindSem     Kind = 3 // counting semaphore: one owner word per slot
	KindEvent   Kind = 4 // event: one uint32 flag
	KindBarrier Kind = 5 // barrier: one uint64, parties arrived (low 32) | generation (high 32)
	KindDict    Kind = 6 // bounded string map
)

var kindNames = map[Kind]string{KindValue: "value", KindLock: "lock", KindSem: "sem", KindEvent: "event", KindBarrier: "barrier", KindDict: "dict"}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind%d", uint8(k))
}

// Errors callers tell apart.
var (
	ErrNotExist  = errors.New("no such object")
	ErrExist     = errors.New("object already exists")
	ErrNotPkit   = errors.New("not a pkit shared object")
	ErrWrongKind = errors.New("wrong kind of object")
	ErrForeign   = errors.New("object owned by another user")
	ErrReserved  = errors.New("names starting with \"sem.\" are glibc semaphores (use pshm sem --posix)")
	ErrShape     = errors.New("invalid size")
)

// Spec describes an object to create.
type Spec struct {
	Kind    Kind
	Type    Type   // values: element type
	Len     int    // elements, slots, parties or dict capacity
	KeySize int    // dict only
	ValSize int    // dict only
	Mode    uint32 // permission bits, e.g. 0o600
}

// Object is a mapped shared object. Close unmaps it.
type Object struct {
	Name string
	Path string
	mem  []byte
	Info os.FileInfo
}

// Close unmaps the object.
func (o *Object) Close() error {
	if o.mem == nil {
		return nil
	}
	err := unix.Munmap(o.mem)
	o.mem = nil
	return err
}

func (o *Object) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&o.mem[off])) }
func (o *Object) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&o.mem[off])) }

// Kind reports what the object is.
func (o *Object) Kind() Kind { return Kind(o.mem[offKind]) }

// Type is the element type of a value object.
func (o *Object) Type() Type {
	return Type{Code: TypeCode(o.mem[offType]), Size: int(binary.LittleEndian.Uint32(o.mem[offElemSize:]))}
}

// Len is the number of elements, slots, parties or dict entries.
func (o *Object) Len() int { return int(binary.LittleEndian.Uint64(o.mem[offLen:])) }

// ElemSize is the size of one element or slot in bytes.
func (o *Object) ElemSize() int { return int(binary.LittleEndian.Uint32(o.mem[offElemSize:])) }

// DataSize is the size of the data area in bytes.
func (o *Object) DataSize() int { return int(binary.LittleEndian.Uint64(o.mem[offDataSize:])) }

// Created is when the object was created.
func (o *Object) Created() time.Time {
	return time.Unix(0, int64(binary.LittleEndian.Uint64(o.mem[offCreated:])))
}

// Size is the whole object's size in bytes, header included.
func (o *Object) Size() int { return len(o.mem) }

// Lock is the object's user lock (pshm lock NAME).
func (o *Object) Lock() *Mutex { return &Mutex{word: o.u64(offLock), group: o.u64(offLockGroup)} }

func (o *Object) opLock() *Mutex { return &Mutex{word: o.u64(offOpLock)} }

// Changed records a change to the object and wakes every process waiting
// for one (WaitChange). Writers outside pkit should do the same: increment
// the uint32 at offset 64, then FUTEX_WAKE it if the uint32 at 68 is not 0.
func (o *Object) Changed() {
	seq := o.u32(offSeq)
	atomic.AddUint32(seq, 1)
	if atomic.LoadUint32(o.u32(offSeqWait)) > 0 {
		futexWake(seq, wakeAll)
	}
}

// dataSize returns the data bytes a spec needs.
func (s Spec) dataSize() (elemSize, dataSize int, err error) {
	if s.Len < 0 || s.Len > maxObjectLen {
		return 0, 0, fmt.Errorf("%w: length %d out of range (at most %d)", ErrShape, s.Len, int64(maxObjectLen))
	}
	switch s.Kind {
	case KindValue:
		if s.Len < 1 {
			return 0, 0, fmt.Errorf("%w: length must be at least 1", ErrShape)
		}
		elemSize = s.Type.Size
	case KindLock:
		return 0, 0, nil
	case KindSem:
		if s.Len < 1 {
			return 0, 0, fmt.Errorf("%w: a semaphore needs at least 1 slot", ErrShape)
		}
		elemSize = 8
	case KindEvent:
		return 4, 8, nil
	case KindBarrier:
		if s.Len < 1 {
			return 0, 0, fmt.Errorf("%w: a barrier needs at least 1 party", ErrShape)
		}
		return 8, 8, nil
	case KindDict:
		if s.Len < 1 || s.KeySize < 1 || s.ValSize < 0 {
			return 0, 0, fmt.Errorf("%w: a dict needs a capacity and a key size of at least 1", ErrShape)
		}
		elemSize = dictSlotSize(s.KeySize, s.ValSize)
	default:
		return 0, 0, fmt.Errorf("%w: unknown kind %d", ErrShape, s.Kind)
	}
	total := int64(elemSize) * int64(s.Len)
	if s.Kind == KindSem {
		total *= 2 // the slots' owner words, then their group words
	}
	if total > maxObjectLen {
		return 0, 0, fmt.Errorf("%w: an object of %d bytes is too large", ErrShape, total)
	}
	return elemSize, int(total), nil
}

// header writes a fresh header for s into mem.
func (s Spec) header(mem []byte, elemSize, dataSize int) {
	copy(mem[offMagic:], Magic)
	le := binary.LittleEndian
	le.PutUint16(mem[offVersion:], Version)
	mem[offKind] = byte(s.Kind)
	mem[offType] = byte(s.Type.Code)
	le.PutUint32(mem[offElemSize:], uint32(elemSize))
	le.PutUint64(mem[offLen:], uint64(s.Len))
	le.PutUint64(mem[offDataOff:], DataOffset)
	le.PutUint64(mem[offDataSize:], uint64(dataSize))
	le.PutUint32(mem[offKeySize:], uint32(s.KeySize))
	le.PutUint32(mem[offValSize:], uint32(s.ValSize))
	le.PutUint64(mem[offCreated:], uint64(time.Now().UnixNano()))
}

// Matches reports whether the existing object o has the shape s asks for
// (used by create --exist-ok and by commands that create on first use).
func (o *Object) Matches(s Spec) error {
	if o.Kind() != s.Kind {
		return fmt.Errorf("%w: %s is a %s, not a %s", ErrWrongKind, o.Name, o.Kind(), s.Kind)
	}
	switch s.Kind {
	case KindValue:
		if o.Type() != s.Type || o.Len() != s.Len {
			return fmt.Errorf("%w: %s is %s[%d], not %s[%d]", ErrWrongKind, o.Name, o.Type(), o.Len(), s.Type, s.Len)
		}
	case KindSem, KindBarrier:
		if o.Len() != s.Len {
			return fmt.Errorf("%w: %s has n=%d, not %d", ErrWrongKind, o.Name, o.Len(), s.Len)
		}
	case KindDict:
		k, v := o.dictSizes()
		if o.Len() != s.Len || k != s.KeySize || v != s.ValSize {
			return fmt.Errorf("%w: %s is dict:%d:%d with %d entries", ErrWrongKind, o.Name, k, v, o.Len())
		}
	}
	return nil
}

// validate checks a mapped header.
func validate(name string, mem []byte, fileSize int64) error {
	if len(mem) < HeaderSize || string(mem[:8]) != Magic {
		return fmt.Errorf("%s: %w", name, ErrNotPkit)
	}
	le := binary.LittleEndian
	if v := le.Uint16(mem[offVersion:]); v != Version {
		return fmt.Errorf("%s: header version %d, this pshm reads version %d", name, v, Version)
	}
	dataOff, dataSize := le.Uint64(mem[offDataOff:]), le.Uint64(mem[offDataSize:])
	elem, n := uint64(le.Uint32(mem[offElemSize:])), le.Uint64(mem[offLen:])
	fixed := Kind(mem[offKind]) == KindEvent || Kind(mem[offKind]) == KindBarrier // data is one word, whatever Len says
	if dataOff != DataOffset || dataSize > uint64(fileSize)-DataOffset || n > maxObjectLen || !fixed && n != 0 && elem > dataSize/n || fixed && dataSize < 8 {
		return fmt.Errorf("%s: %w (corrupt header)", name, ErrNotPkit)
	}
	switch Kind(mem[offKind]) {
	case KindValue:
		t := Type{Code: TypeCode(mem[offType]), Size: int(elem)}
		if t.check() != nil {
			return fmt.Errorf("%s: %w (bad element type)", name, ErrNotPkit)
		}
	case KindLock, KindSem, KindEvent, KindBarrier:
	case KindDict:
		k, v := le.Uint32(mem[offKeySize:]), le.Uint32(mem[offValSize:])
		if n == 0 || k == 0 || k > MaxStrSize || v > MaxStrSize || uint64(dictSlotSize(int(k), int(v))) != elem {
			return fmt.Errorf("%s: %w (bad dict sizes)", name, ErrNotPkit)
		}
	default:
		return fmt.Errorf("%s: %w (unknown kind %d)", name, ErrNotPkit, mem[offKind])
	}
	return nil
}
