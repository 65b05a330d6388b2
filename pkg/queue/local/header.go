package local

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
)

// The state file of a queue is two copies of the header (written in turn,
// so a torn write, e.g. at a power loss, leaves the other copy intact) and
// then the lease table of fixed-size slots.
const (
	headerSize  = 4096
	slotsOffset = 2 * headerSize
	slotSize    = 64
	maxHolders  = 64         // distinct live lease holders tracked for death detection
	refWindow   = 256        // segments from firstSeg that leased items may refer to
	magic       = 0x31485150 // "PQH1"
	version     = 1
)

// holder is a process holding leases, identified across PID reuse by its
// start time.
type holder struct {
	PID   uint32
	Count uint32 // leases it holds
	Start uint64
}

// header is the queue's state. Items between head and tail are ready in the
// segments; leased and delayed ones live in the lease table.
type header struct {
	Gen   uint64
	Dirty bool // a lease-table update was in progress: recover on next open

	FirstSeg                  uint64 // oldest segment file still present
	HeadSeg, HeadOff, HeadSeq uint64 // next record to deliver
	TailSeg, TailOff, TailSeq uint64 // where the next put goes, and its seq
	HeadBytes                 int64  // payload bytes from head to tail

	Leased, Retry int64 // slots leased / waiting for redelivery
	SlotBytes     int64 // payload bytes of those slots
	NextEvent     int64 // unix ns when a lease expires or a delay ends (0: none pending)
	SlotCap       uint64
	FreeHint      uint64

	Puts, Delivered, Done, Dead uint64

	Holders [maxHolders]holder
	Refs    [refWindow]uint32 // leased slots per segment, from FirstSeg

	Cfg queue.Config

	// RolledBackTo is the generation the state fell back to when a
	// newer, damaged copy was found (see damagedNewer), kept so that
	// pqueue size --json tells it later too. It sits in bytes that
	// version 1 left zero, like slot.HolderPGID: an older pqueue ignores
	// it and drops it when it rewrites the header.
	RolledBackTo uint64
}

func (h *header) ready() int64 { return int64(h.TailSeq-h.HeadSeq) + h.Retry }

func (h *header) marshal(b []byte) {
	clear(b[:headerSize])
	le := binary.LittleEndian
	le.PutUint32(b[0:], magic)
	le.PutUint64(b[8:], h.Gen)
	if h.Dirty {
		le.PutUint32(b[16:], 1)
	}
	le.PutUint32(b[20:], version)
	u := []uint64{h.FirstSeg, h.HeadSeg, h.HeadOff, h.HeadSeq, h.TailSeg, h.TailOff, h.TailSeq,
		uint64(h.HeadBytes), uint64(h.Leased), uint64(h.Retry), uint64(h.SlotBytes), uint64(h.NextEvent),
		h.SlotCap, h.FreeHint, h.Puts, h.Delivered, h.Done, h.Dead,
		uint64(h.Cfg.MaxSize), uint64(h.Cfg.Lease), uint64(h.Cfg.MaxDeliveries), boolU(h.Cfg.Durable)}
	for i, v := range u {
		le.PutUint64(b[24+8*i:], v)
	}
	off := 24 + 8*len(u)
	for _, hd := range h.Holders {
		le.PutUint32(b[off:], hd.PID)
		le.PutUint32(b[off+4:], hd.Count)
		le.PutUint64(b[off+8:], hd.Start)
		off += 16
	}
	for _, r := range h.Refs {
		le.PutUint32(b[off:], r)
		off += 4
	}
	le.PutUint64(b[off:], h.RolledBackTo)
	le.PutUint32(b[4:], crc32.ChecksumIEEE(b[8:headerSize]))
}

// unmarshal decodes one header copy; false if it is not a valid one.
func (h *header) unmarshal(b []byte) bool {
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != magic || le.Uint32(b[20:]) != version ||
		le.Uint32(b[4:]) != crc32.ChecksumIEEE(b[8:headerSize]) {
		return false
	}
	h.Gen = le.Uint64(b[8:])
	h.Dirty = le.Uint32(b[16:]) != 0
	var u [22]uint64
	for i := range u {
		u[i] = le.Uint64(b[24+8*i:])
	}
	h.FirstSeg, h.HeadSeg, h.HeadOff, h.HeadSeq, h.TailSeg, h.TailOff, h.TailSeq = u[0], u[1], u[2], u[3], u[4], u[5], u[6]
	h.HeadBytes, h.Leased, h.Retry, h.SlotBytes, h.NextEvent = int64(u[7]), int64(u[8]), int64(u[9]), int64(u[10]), int64(u[11])
	h.SlotCap, h.FreeHint, h.Puts, h.Delivered, h.Done, h.Dead = u[12], u[13], u[14], u[15], u[16], u[17]
	h.Cfg = queue.Config{MaxSize: int64(u[18]), Lease: time.Duration(u[19]), MaxDeliveries: int(u[20]), Durable: u[21] != 0}
	off := 24 + 8*len(u)
	for i := range h.Holders {
		h.Holders[i] = holder{PID: le.Uint32(b[off:]), Count: le.Uint32(b[off+4:]), Start: le.Uint64(b[off+8:])}
		off += 16
	}
	for i := range h.Refs {
		h.Refs[i] = le.Uint32(b[off:])
		off += 4
	}
	h.RolledBackTo = le.Uint64(b[off:])
	return true
}

func boolU(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Slot states.
const (
	slotFree   = 0
	slotLeased = 1 // Deadline is the lease's expiry
	slotRetry  = 2 // Deadline is when it may be delivered again
)

// slot is one entry of the lease table: an item taken from the head and
// not yet done. Its payload stays in its segment at Seg/Off.
//
// HolderPGID (Attach) sits in bytes that version 1 left zero, so tables
// of either format read alike: an older pqueue ignores it (and drops it
// when it rewrites the entry), and zero means no group, the old rule.
type slot struct {
	State      uint8
	Deliveries uint32
	Seq        uint64
	Seg, Off   uint64
	Len        uint32
	HolderPID  uint32
	HolderTime uint64
	Deadline   int64
	HolderPGID uint32 // the process group working on the item (0: none)
}

func (s *slot) marshal(b []byte) {
	clear(b[:slotSize])
	le := binary.LittleEndian
	b[0] = s.State
	le.PutUint32(b[4:], s.Deliveries)
	le.PutUint64(b[8:], s.Seq)
	le.PutUint64(b[16:], s.Seg)
	le.PutUint64(b[24:], s.Off)
	le.PutUint32(b[32:], s.Len)
	le.PutUint32(b[36:], s.HolderPID)
	le.PutUint64(b[40:], s.HolderTime)
	le.PutUint64(b[48:], uint64(s.Deadline))
	le.PutUint32(b[56:], s.HolderPGID)
}

func (s *slot) unmarshal(b []byte) {
	le := binary.LittleEndian
	*s = slot{State: b[0], Deliveries: le.Uint32(b[4:]), Seq: le.Uint64(b[8:]), Seg: le.Uint64(b[16:]),
		Off: le.Uint64(b[24:]), Len: le.Uint32(b[32:]), HolderPID: le.Uint32(b[36:]),
		HolderTime: le.Uint64(b[40:]), Deadline: int64(le.Uint64(b[48:])), HolderPGID: le.Uint32(b[56:])}
}
