package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
	"golang.org/x/sys/unix"
)

// readChunk is how much of a segment a get reads at once.
const readChunk = 256 << 10

// record is an item read from the head.
type record struct {
	seq      uint64
	seg, off uint64
	data     []byte
}

// readHead takes up to limit records (and about maxBytes) from the head,
// from segments before endSeg only, advancing the head in h.
func (q *Queue) readHead(h *header, limit int, endSeg uint64) ([]record, error) {
	var recs []record
	var chunk []byte // bytes of the head segment from chunkOff
	var chunkOff uint64
	bytes := 0
	for len(recs) < limit && bytes < batchBytes && h.HeadSeq < h.TailSeq && h.HeadSeg < endSeg {
		f, err := q.seg(h.HeadSeg, false)
		if err != nil {
			return nil, err
		}
		end := h.TailOff
		if h.HeadSeg < h.TailSeg {
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				return nil, fmt.Errorf("queue %q: %w", q.name, err)
			}
			end = uint64(st.Size)
		}
		if h.HeadOff >= end {
			if h.HeadSeg == h.TailSeg {
				return nil, q.corrupt("%d items are missing from segment %s", h.TailSeq-h.HeadSeq, segName(h.HeadSeg))
			}
			h.HeadSeg++
			h.HeadOff = 0
			chunk = nil
			continue
		}
		if chunk == nil || h.HeadOff < chunkOff || h.HeadOff-chunkOff >= uint64(len(chunk)) {
			chunk, chunkOff = nil, h.HeadOff
		}
		rel := h.HeadOff - chunkOff
		seq, payload, size, need, derr := decodeRecord(chunk[rel:])
		if derr == nil && need > 0 {
			if h.HeadOff+uint64(need) > end {
				return nil, q.corrupt("record at byte %d of %s runs past the end of the segment", h.HeadOff, segName(h.HeadSeg))
			}
			// Read what the rest of this call can use: a single get reads
			// one small record, a batch reads up to readChunk at a time.
			want := max(need, min(readChunk, (limit-len(recs))*64))
			n := min(end-h.HeadOff, uint64(want))
			chunk, chunkOff = make([]byte, n), h.HeadOff
			if _, err := f.ReadAt(chunk, int64(h.HeadOff)); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("queue %q: read: %w", q.name, err)
			}
			continue
		}
		if derr != nil && len(recs) > 0 {
			break // deliver what is good; the next get reports the damage
		}
		if derr != nil {
			return nil, q.corrupt("record at byte %d of %s: %v", h.HeadOff, segName(h.HeadSeg), derr)
		}
		if seq != h.HeadSeq && len(recs) > 0 {
			break
		}
		if seq != h.HeadSeq {
			return nil, q.corrupt("record at byte %d of %s has seq %d, want %d", h.HeadOff, segName(h.HeadSeg), seq, h.HeadSeq)
		}
		recs = append(recs, record{seq: seq, seg: h.HeadSeg, off: h.HeadOff, data: payload})
		h.HeadOff += uint64(size)
		h.HeadSeq++
		h.HeadBytes -= int64(len(payload))
		bytes += size
	}
	return recs, nil
}

// readItem reads the payload of a lease-table entry.
func (q *Queue) readItem(s *slot) ([]byte, error) {
	f, err := q.seg(s.Seg, false)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, recordHeader+int(s.Len))
	if _, err := f.ReadAt(buf, int64(s.Off)); err != nil {
		return nil, q.corrupt("leased item %d in %s: %v", s.Seq, segName(s.Seg), err)
	}
	seq, payload, _, need, err := decodeRecord(buf)
	if err != nil || need > 0 || seq != s.Seq {
		return nil, q.corrupt("leased item %d at byte %d of %s does not verify", s.Seq, s.Off, segName(s.Seg))
	}
	return payload, nil
}

// Get implements queue.Queue.
func (q *Queue) Get(ctx context.Context, max int, opt queue.GetOptions) ([]queue.Item, error) {
	if max < 1 {
		return nil, fmt.Errorf("queue %q: get of %d items", q.name, max)
	}
	lease := q.cfg.LeaseFor(opt.Lease)
	if lease < 0 {
		return nil, fmt.Errorf("queue %q: negative lease %v", q.name, lease)
	}
	var who holder
	if opt.HolderPID > 0 && lease > 0 {
		start, err := startTime(opt.HolderPID)
		if err != nil {
			return nil, fmt.Errorf("queue %q: lease holder: %w", q.name, err)
		}
		who = holder{PID: uint32(opt.HolderPID), Start: start}
	}
	var items []queue.Item
	err := q.block(ctx, func() (bool, time.Time, []holder, error) {
		var until time.Time
		var others []holder
		var err error
		items, until, others, err = q.tryGet(max, lease, who)
		if err == nil && len(items) == 0 && opt.NoWait {
			err = fmt.Errorf("queue %q: %w", q.name, queue.ErrEmpty)
		}
		return len(items) > 0, until, others, err
	})
	return items, err
}

// tryGet delivers what is ready; with nothing ready it returns when the
// next lease expires or delay ends, and the processes holding leases.
func (q *Queue) tryGet(max int, lease time.Duration, who holder) ([]queue.Item, time.Time, []holder, error) {
	var h header
	if err := q.lock(&h); err != nil {
		return nil, time.Time{}, nil, err
	}
	defer q.unlock()
	now := time.Now()
	changed, slots, ready, err := q.housekeep(&h, now)
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	var items []queue.Item
	deadline := now.Add(lease).UnixNano()
	// Redeliveries first, oldest first.
	for _, i := range ready {
		if len(items) == max {
			h.schedule(1) // more are ready: the next get scans again
			break
		}
		s := &slots[i]
		data, err := q.readItem(s)
		if err != nil {
			return nil, time.Time{}, nil, err
		}
		s.Deliveries++
		h.Delivered++
		h.Retry--
		it := queue.Item{Data: data, Deliveries: int(s.Deliveries)}
		if lease > 0 {
			s.State, s.Deadline = slotLeased, deadline
			q.hold(&h, s, who)
			h.Leased++
			h.schedule(deadline)
			it.ID = leaseID(s, i)
		} else {
			q.release(&h, s, i)
			h.Done++
		}
		if err := q.writeSlot(i, s); err != nil {
			return nil, time.Time{}, nil, err
		}
		items = append(items, it)
		changed = true
	}
	if len(items) < max && h.HeadSeq < h.TailSeq {
		endSeg := h.TailSeg + 1
		if lease > 0 {
			endSeg = h.FirstSeg + refWindow
			if err := q.markDirty(&h); err != nil {
				return nil, time.Time{}, nil, err
			}
		}
		recs, err := q.readHead(&h, max-len(items), endSeg)
		if err != nil {
			return nil, time.Time{}, nil, err
		}
		if len(recs) == 0 && len(items) == 0 && h.HeadSeq < h.TailSeq {
			_, err := q.refIndex(&h, h.HeadSeg)
			return nil, time.Time{}, nil, err
		}
		for _, r := range recs {
			h.Delivered++
			it := queue.Item{Data: r.data, Deliveries: 1}
			if lease > 0 {
				i, err := q.allocSlot(&h)
				if err != nil {
					return nil, time.Time{}, nil, err
				}
				s := slot{State: slotLeased, Deliveries: 1, Seq: r.seq, Seg: r.seg, Off: r.off, Len: uint32(len(r.data)), Deadline: deadline}
				q.hold(&h, &s, who)
				idx, _ := q.refIndex(&h, r.seg) // endSeg keeps it in the window
				h.Refs[idx]++
				h.Leased++
				h.SlotBytes += int64(len(r.data))
				h.schedule(deadline)
				if err := q.writeSlot(i, &s); err != nil {
					return nil, time.Time{}, nil, err
				}
				it.ID = leaseID(&s, i)
			} else {
				h.Done++
			}
			items = append(items, it)
		}
		changed = changed || len(recs) > 0
	}
	if changed {
		q.gcSegments(&h)
		if err := q.commit(&h); err != nil {
			return nil, time.Time{}, nil, err
		}
	}
	if len(items) > 0 {
		return items, time.Time{}, nil, nil
	}
	return nil, h.nextEvent(), h.liveHolders(who), nil
}

// hold records who holds the lease of s (nobody if the table is full).
func (q *Queue) hold(h *header, s *slot, who holder) {
	s.HolderPID, s.HolderTime, s.HolderPGID = 0, 0, 0
	if who.PID != 0 && h.addHolder(who.PID, who.Start) {
		s.HolderPID, s.HolderTime = who.PID, who.Start
	}
}

// release frees the lease-table entry i (its item is done or dead).
func (q *Queue) release(h *header, s *slot, i uint64) {
	if idx, err := q.refIndex(h, s.Seg); err == nil && h.Refs[idx] > 0 {
		h.Refs[idx]--
	}
	h.SlotBytes -= int64(s.Len)
	*s = slot{}
	h.freeSlot(i)
}
