package shm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PosixSem is a glibc named semaphore: the 32-byte file /dev/shm/sem.NAME
// that sem_open("/NAME") creates (glibc's struct new_sem on 64-bit
// targets):
//
//	uint64 data   value in the low 32 bits, number of waiters in the high 32
//	int32 private 128 (FUTEX_PRIVATE_FLAG, inverted by glibc: a shared futex)
//	int32 pad
//
// Waiters sleep with FUTEX_WAIT on the low 32-bit word while the value is
// 0; sem_post wakes one if the waiter count is not 0. This type speaks the
// same protocol, without cgo.
type PosixSem struct {
	Name string
	mem  []byte
}

const (
	posixSemSize     = 32
	semNWaitersShift = 32
	semValueMask     = 1<<32 - 1
	semValueMax      = math.MaxInt32
	semShared        = 128
)

// PosixSemFile is the file name under Dir of the semaphore name.
func PosixSemFile(name string) string { return "sem." + name }

func (s *PosixSem) data() *uint64  { return (*uint64)(unsafe.Pointer(&s.mem[0])) }
func (s *PosixSem) value() *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[0])) }

// OpenPosixSem opens an existing glibc semaphore.
func OpenPosixSem(name string) (*PosixSem, error) {
	path, err := PathOf(PosixSemFile(name))
	if err != nil {
		return nil, err
	}
	f, fi, err := openFile("semaphore "+name, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() != posixSemSize {
		return nil, fmt.Errorf("semaphore %s: %s is %d bytes, not a glibc semaphore (%d)", name, path, fi.Size(), posixSemSize)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, posixSemSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map semaphore %s: %w", name, err)
	}
	return &PosixSem{Name: name, mem: mem}, nil
}

// CreatePosixSem creates a glibc semaphore with the given value, as
// sem_open(O_CREAT) does; an existing one is opened unchanged.
func CreatePosixSem(name string, value uint32, mode uint32) (*PosixSem, error) {
	if value > semValueMax {
		return nil, fmt.Errorf("semaphore value %d above SEM_VALUE_MAX", value)
	}
	path, err := PathOf(PosixSemFile(name))
	if err != nil {
		return nil, err
	}
	f, publish, err := newFile(filepath.Dir(path), mode)
	if err != nil {
		return nil, fmt.Errorf("create semaphore %s: %w", name, err)
	}
	defer f.Close()
	var b [posixSemSize]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(value))
	binary.LittleEndian.PutUint32(b[8:], semShared)
	if _, err := f.Write(b[:]); err != nil {
		publish("")
		return nil, fmt.Errorf("create semaphore %s: %w", name, err)
	}
	if err := publish(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create semaphore %s: %w", name, err)
	}
	return OpenPosixSem(name)
}

// Close unmaps the semaphore.
func (s *PosixSem) Close() error { return unix.Munmap(s.mem) }

// Value returns the semaphore's value and the number of waiters.
func (s *PosixSem) Value() (value, waiters uint32) {
	d := atomic.LoadUint64(s.data())
	return uint32(d & semValueMask), uint32(d >> semNWaitersShift)
}

// Post increments the value and wakes a waiter (sem_post).
func (s *PosixSem) Post() error {
	for {
		d := atomic.LoadUint64(s.data())
		if d&semValueMask >= semValueMax {
			return fmt.Errorf("semaphore %s: value would exceed SEM_VALUE_MAX", s.Name)
		}
		if atomic.CompareAndSwapUint64(s.data(), d, d+1) {
			if d>>semNWaitersShift > 0 {
				futexWake(s.value(), 1)
			}
			return nil
		}
	}
}

// TryWait decrements the value if it is above 0 (sem_trywait).
func (s *PosixSem) TryWait() bool {
	for {
		d := atomic.LoadUint64(s.data())
		if d&semValueMask == 0 {
			return false
		}
		if atomic.CompareAndSwapUint64(s.data(), d, d-1) {
			return true
		}
	}
}

// Wait decrements the value, sleeping while it is 0 (sem_wait), as long as
// ctx allows.
func (s *PosixSem) Wait(ctx context.Context) error {
	if s.TryWait() {
		return nil
	}
	const one = uint64(1) << semNWaitersShift
	d := atomic.AddUint64(s.data(), one)
	for {
		if d&semValueMask == 0 {
			if err := block(ctx, s.value(), 0, nil); err != nil {
				atomic.AddUint64(s.data(), ^(one - 1))
				return err
			}
			d = atomic.LoadUint64(s.data())
			continue
		}
		if atomic.CompareAndSwapUint64(s.data(), d, d-1-one) {
			return nil
		}
		d = atomic.LoadUint64(s.data())
	}
}
