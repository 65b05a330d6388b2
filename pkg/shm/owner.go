package shm

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
