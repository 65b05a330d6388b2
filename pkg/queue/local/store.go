package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/regfile"
	"golang.org/x/sys/unix"
)

const stateFile = "state"

var errNotEmpty = syscall.ENOTEMPTY

// Queue is one open local queue.
type Queue struct {
	b     *Backend
	name  string
	dir   string
	state *os.File
	cfg   queue.Config

	// mu serialises this process's goroutines; the flock on state
	// serialises processes (a flock is shared by every goroutine).
	mu   sync.Mutex
	segs map[uint64]*os.File
	hbuf [slotsOffset]byte
	// gced: this operation's header drops segments (gcSegments), whose
	// files commit deletes once the header no longer refers to them.
	gced bool
	// rolledBack is the generation readHeader fell back to when the
	// other copy was damaged and may have been newer (0: it was not).
	rolledBack uint64
}

func segName(seg uint64) string { return fmt.Sprintf("%016x.seg", seg) }

func writeInitialState(path string, cfg queue.Config) error {
	h := header{Gen: 1, Cfg: cfg}
	buf := make([]byte, slotsOffset)
	h.marshal(buf[headerSize:]) // Gen 1 lives in copy 1
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if cfg.Durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func openQueue(b *Backend, name string) (*Queue, error) {
	dir := filepath.Join(b.dir, name)
	f, err := regfile.Open(filepath.Join(dir, stateFile), os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("queue %q: %w", name, queue.ErrNotFound)
		}
		return nil, fmt.Errorf("open queue %q: %w", name, err)
	}
	q := &Queue{b: b, name: name, dir: dir, state: f, segs: map[uint64]*os.File{}}
	// The configuration never changes, so any valid header copy has it.
	var h header
	if err := q.readHeader(&h); err != nil {
		f.Close()
		return nil, err
	}
	q.cfg = h.Cfg
	return q, nil
}

// Name implements queue.Queue.
func (q *Queue) Name() string { return q.name }

// Config implements queue.Queue.
func (q *Queue) Config() queue.Config { return q.cfg }

// Close implements queue.Queue.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range q.segs {
		f.Close()
	}
	q.segs = nil
	return q.state.Close()
}

func (q *Queue) corrupt(format string, a ...any) error {
	return fmt.Errorf("queue %q: %w: %s (in %s)", q.name, queue.ErrCorrupt, fmt.Sprintf(format, a...), q.dir)
}

// readHeader reads both header copies and keeps the valid one with the
// higher generation.
func (q *Queue) readHeader(h *header) error {
	if _, err := q.state.ReadAt(q.hbuf[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return q.corrupt("state file is truncated")
		}
		return fmt.Errorf("queue %q: read state: %w", q.name, err)
	}
	var a, b header
	okA, okB := a.unmarshal(q.hbuf[:headerSize]), b.unmarshal(q.hbuf[headerSize:])
	other := q.hbuf[:headerSize]
	switch {
	case okA && (!okB || a.Gen > b.Gen):
		*h = a
		other = q.hbuf[headerSize:]
	case okB:
		*h = b
	default:
		return q.corrupt("both header copies fail their checksums")
	}
	q.rolledBack = 0
	if !(okA && okB) && damagedNewer(other, h.Gen) {
		q.rolledBack = h.Gen
		h.RolledBackTo = h.Gen
	}
	return nil
}

// damagedNewer reports whether copy, which fails its checksum next to the
// valid copy of generation gen, may have been the newer one: the state
// then rolled back to gen, losing what the damaged copy committed. A copy
// of zeros was never written (a new queue has only copy 1); a copy that
// still reads as generation gen-1 was the older one, whose loss costs
// nothing. Anything else, a damaged generation field included, may have
// been gen+1.
func damagedNewer(copy []byte, gen uint64) bool {
	if !slices.ContainsFunc(copy, func(c byte) bool { return c != 0 }) {
		return false
	}
	return binary.LittleEndian.Uint64(copy[8:]) != gen-1
}

// RolledBack returns the generation the queue's state fell back to when
// this process last read it, because the newest copy is damaged, or 0.
// The next write replaces the damaged copy (and keeps the generation in
// the header's RolledBackTo).
func (q *Queue) RolledBack() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rolledBack
}

// writeHeader writes h, as its next generation, over the older copy.
func (q *Queue) writeHeader(h *header) error {
	h.Gen++
	off := int64(h.Gen%2) * headerSize
	h.marshal(q.hbuf[off : off+headerSize])
	if _, err := q.state.WriteAt(q.hbuf[off:off+headerSize], off); err != nil {
		return fmt.Errorf("queue %q: write state: %w", q.name, err)
	}
	return nil
}

// lock starts an operation: it takes the locks and reads the header,
// repairing the queue if the last operation on it was interrupted.
func (q *Queue) lock(h *header) error {
	q.mu.Lock()
	if q.segs == nil {
		q.mu.Unlock()
		return fmt.Errorf("queue %q: closed", q.name)
	}
	q.gced = false
	for {
		err := unix.Flock(int(q.state.Fd()), unix.LOCK_EX)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			q.mu.Unlock()
			return fmt.Errorf("queue %q: lock: %w", q.name, err)
		}
	}
	size, err := q.checkLinked()
	if err == nil {
		err = q.readHeader(h)
	}
	for n, f := range q.segs { // deleted by another process: let the space go
		if err == nil && n < h.FirstSeg {
			f.Close()
			delete(q.segs, n)
		}
	}
	if err == nil && h.Dirty {
		err = q.recover(h)
	}
	if err == nil && h.SlotCap == 0 && size > slotsOffset {
		// The lease table emptied (see commit): give its space back.
		if terr := q.state.Truncate(slotsOffset); terr != nil {
			err = fmt.Errorf("queue %q: shrink lease table: %w", q.name, terr)
		}
	}
	if err != nil {
		q.unlock()
	}
	return err
}

// checkLinked fails once the queue has been removed: operations on the
// unlinked files would succeed and be lost. It returns the state file's
// size.
func (q *Queue) checkLinked() (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(q.state.Fd()), &st); err != nil {
		return 0, fmt.Errorf("queue %q: %w", q.name, err)
	}
	if st.Nlink == 0 {
		return 0, fmt.Errorf("queue %q: %w (removed)", q.name, queue.ErrNotFound)
	}
	return st.Size, nil
}

func (q *Queue) unlock() {
	unix.Flock(int(q.state.Fd()), unix.LOCK_UN)
	q.mu.Unlock()
}

// markDirty records that the lease table is about to change, so that an
// operation killed half-way is repaired by the next one.
func (q *Queue) markDirty(h *header) error {
	if h.Dirty {
		return nil
	}
	h.Dirty = true
	return q.writeHeader(h)
}

// commit ends an operation's writes with the new header. An empty lease
// table is dropped (the next operation truncates the file), so a burst of
// leases does not keep its space.
func (q *Queue) commit(h *header) error {
	h.Dirty = false
	if h.Leased+h.Retry == 0 {
		h.SlotCap, h.FreeHint = 0, 0
	}
	if err := q.writeHeader(h); err != nil {
		return err
	}
	if q.cfg.Durable {
		if err := datasync(q.state); err != nil {
			return fmt.Errorf("queue %q: sync state: %w", q.name, err)
		}
	}
	if q.gced {
		q.gced = false
		q.removeSegments(h.FirstSeg)
	}
	return nil
}

// removeSegments deletes the files of the segments before first, which the
// committed header no longer refers to: those gcSegments just dropped and
// any that an operation killed between its commit and their deletion
// left behind. Deleting them before the commit instead would leave a
// header that still reads from a deleted segment if the operation were
// killed in between.
func (q *Queue) removeSegments(first uint64) {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return // the next segment dropped retries
	}
	for _, e := range ents {
		hex, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok || len(hex) != 16 {
			continue
		}
		if n, err := strconv.ParseUint(hex, 16, 64); err == nil && n < first {
			os.Remove(filepath.Join(q.dir, e.Name()))
		}
	}
}

// seg returns segment n, opened (and created when create is set).
func (q *Queue) seg(n uint64, create bool) (*os.File, error) {
	if f := q.segs[n]; f != nil {
		return f, nil
	}
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := regfile.Open(filepath.Join(q.dir, segName(n)), flags, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, q.corrupt("segment %s is missing", segName(n))
		}
		return nil, fmt.Errorf("queue %q: %w", q.name, err)
	}
	q.segs[n] = f
	return f, nil
}

// reclaimAt is the size from which a drained tail segment is replaced by
// a fresh one (and deleted); below it, puts keep appending to it, which
// spares a one-item put and get the creation and deletion of a file.
const reclaimAt = 1 << 20

// gcSegments drops the segments before the head that no lease refers to
// from h; commit deletes their files once h is written.
// A drained queue whose tail segment has reclaimAt bytes and no lease
// refers to starts a fresh segment, so the space of consumed items is
// reclaimed.
func (q *Queue) gcSegments(h *header) {
	if h.HeadSeq == h.TailSeq && h.HeadSeg == h.TailSeg && h.TailOff >= min(reclaimAt, uint64(q.b.segSize)) {
		if idx, err := q.refIndex(h, h.TailSeg); err == nil && idx+1 < refWindow && h.Refs[idx] == 0 {
			h.TailSeg++
			h.TailOff = 0
			h.HeadSeg, h.HeadOff = h.TailSeg, 0
		}
	}
	for h.FirstSeg < h.HeadSeg && h.Refs[0] == 0 {
		if f := q.segs[h.FirstSeg]; f != nil {
			f.Close()
			delete(q.segs, h.FirstSeg)
		}
		q.gced = true
		copy(h.Refs[:], h.Refs[1:])
		h.Refs[refWindow-1] = 0
		h.FirstSeg++
	}
}

// refIndex is the index into h.Refs of segment seg.
func (q *Queue) refIndex(h *header, seg uint64) (int, error) {
	if seg < h.FirstSeg || seg-h.FirstSeg >= refWindow {
		return 0, fmt.Errorf("queue %q: leases pin too many segments (%d behind the oldest); finish or nack old leases", q.name, seg-h.FirstSeg)
	}
	return int(seg - h.FirstSeg), nil
}

// readSlot and writeSlot access one lease-table entry.
func (q *Queue) readSlot(h *header, i uint64, s *slot) error {
	if i >= h.SlotCap {
		*s = slot{}
		return nil
	}
	var b [slotSize]byte
	if _, err := q.state.ReadAt(b[:], slotsOffset+int64(i)*slotSize); err != nil {
		return fmt.Errorf("queue %q: read lease table: %w", q.name, err)
	}
	s.unmarshal(b[:])
	return nil
}

func (q *Queue) writeSlot(i uint64, s *slot) error {
	var b [slotSize]byte
	s.marshal(b[:])
	if _, err := q.state.WriteAt(b[:], slotsOffset+int64(i)*slotSize); err != nil {
		return fmt.Errorf("queue %q: write lease table: %w", q.name, err)
	}
	return nil
}

// loadSlots reads the whole lease table.
func (q *Queue) loadSlots(h *header) ([]slot, error) {
	buf := make([]byte, h.SlotCap*slotSize)
	if _, err := q.state.ReadAt(buf, slotsOffset); err != nil && !(errors.Is(err, io.EOF) && h.SlotCap == 0) {
		return nil, fmt.Errorf("queue %q: read lease table: %w", q.name, err)
	}
	slots := make([]slot, h.SlotCap)
	for i := range slots {
		slots[i].unmarshal(buf[i*slotSize:])
	}
	return slots, nil
}

// allocSlot finds a free lease-table entry, growing the table if needed.
func (q *Queue) allocSlot(h *header) (uint64, error) {
	var buf [64 * slotSize]byte
	for i := h.FreeHint; i < h.SlotCap; {
		n := min(h.SlotCap-i, 64)
		if _, err := q.state.ReadAt(buf[:n*slotSize], slotsOffset+int64(i)*slotSize); err != nil {
			return 0, fmt.Errorf("queue %q: read lease table: %w", q.name, err)
		}
		for j := range n {
			if buf[j*slotSize] == slotFree {
				h.FreeHint = i + j + 1
				return i + j, nil
			}
		}
		i += n
	}
	h.SlotCap++
	h.FreeHint = h.SlotCap
	return h.SlotCap - 1, nil
}

func (h *header) freeSlot(i uint64) {
	h.FreeHint = min(h.FreeHint, i)
}

// recover repairs a queue whose last lease-table update was interrupted:
// it drops entries made for items the header never took from the head,
// and recounts everything the header derives from the table.
func (q *Queue) recover(h *header) error {
	slots, err := q.loadSlots(h)
	if err != nil {
		return err
	}
	h.Leased, h.Retry, h.SlotBytes, h.NextEvent, h.FreeHint = 0, 0, 0, 1, 0
	h.Holders = [maxHolders]holder{}
	h.Refs = [refWindow]uint32{}
	for i := range slots {
		s := &slots[i]
		if s.State == slotFree {
			continue
		}
		idx, ierr := q.refIndex(h, s.Seg)
		if s.Seq >= h.HeadSeq || ierr != nil || (s.State != slotLeased && s.State != slotRetry) {
			*s = slot{}
			if err := q.writeSlot(uint64(i), s); err != nil {
				return err
			}
			continue
		}
		h.Refs[idx]++
		h.SlotBytes += int64(s.Len)
		if s.State == slotLeased {
			h.Leased++
			if s.HolderPID != 0 && !h.addHolder(s.HolderPID, s.HolderTime) {
				s.HolderPID, s.HolderTime = 0, 0 // table full: expiry only
				if err := q.writeSlot(uint64(i), s); err != nil {
					return err
				}
			}
		} else {
			h.Retry++
		}
	}
	q.gcSegments(h)
	return q.commit(h)
}

// addHolder counts one more lease of a process; false if the holder table
// is full (the lease then ends only by expiry).
func (h *header) addHolder(pid uint32, start uint64) bool {
	free := -1
	for i := range h.Holders {
		hd := &h.Holders[i]
		if hd.Count > 0 && hd.PID == pid && hd.Start == start {
			hd.Count++
			return true
		}
		if hd.Count == 0 && free < 0 {
			free = i
		}
	}
	if free < 0 {
		return false
	}
	h.Holders[free] = holder{PID: pid, Start: start, Count: 1}
	return true
}

func (h *header) dropHolder(pid uint32, start uint64) {
	if pid == 0 {
		return
	}
	for i := range h.Holders {
		hd := &h.Holders[i]
		if hd.Count > 0 && hd.PID == pid && hd.Start == start {
			hd.Count--
			return
		}
	}
}

// leaseID is the printable ID of a lease: seq, delivery and table entry.
func leaseID(s *slot, i uint64) string {
	return strconv.FormatUint(s.Seq, 10) + "." + strconv.FormatUint(uint64(s.Deliveries), 10) + "." + strconv.FormatUint(i, 10)
}

func parseLeaseID(id string) (seq uint64, deliveries uint32, idx uint64, ok bool) {
	f := strings.Split(id, ".")
	if len(f) != 3 {
		return 0, 0, 0, false
	}
	seq, err1 := strconv.ParseUint(f[0], 10, 64)
	d, err2 := strconv.ParseUint(f[1], 10, 32)
	idx, err3 := strconv.ParseUint(f[2], 10, 64)
	return seq, uint32(d), idx, err1 == nil && err2 == nil && err3 == nil
}
