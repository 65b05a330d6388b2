package local

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
	"golang.org/x/sys/unix"
)

// batchBytes bounds the records one operation writes or reads while it
// holds the lock, so other processes get their turn.
const batchBytes = 4 << 20

// Put implements queue.Queue. Each locked batch is one write and, for a
// durable queue, one fsync (group commit).
func (q *Queue) Put(ctx context.Context, items [][]byte, noWait bool) (int, error) {
	limit, tooLarge := len(items), error(nil)
	for i, it := range items {
		if len(it) > queue.MaxItemSize {
			limit = i
			tooLarge = fmt.Errorf("queue %q: item %d has %d bytes: %w (the limit is %d bytes)", q.name, i+1, len(it), queue.ErrTooLarge, queue.MaxItemSize)
			break
		}
	}
	n := 0
	for n < limit {
		err := q.block(ctx, func() (bool, time.Time, []holder, error) {
			k, err := q.tryPut(items[n:limit])
			n += k
			if k == 0 && err == nil && noWait {
				err = fmt.Errorf("queue %q: %w", q.name, queue.ErrFull)
			}
			return k > 0, time.Time{}, nil, err
		})
		if err != nil {
			return n, err
		}
	}
	return n, tooLarge
}

func (q *Queue) tryPut(items [][]byte) (int, error) {
	var h header
	if err := q.lock(&h); err != nil {
		return 0, err
	}
	defer q.unlock()
	room := int64(len(items))
	if h.Cfg.MaxSize > 0 {
		room = min(room, max(0, h.Cfg.MaxSize-h.ready()-h.Leased))
	}
	if room == 0 {
		return 0, nil
	}
	k, err := q.appendRecords(&h, items[:room])
	if err != nil {
		return 0, err
	}
	return k, q.commit(&h)
}

// appendRecords writes records at the tail, starting a new segment when
// the current one is full, and advances the tail in h (not yet committed:
// until then the records are invisible, and a crash leaves a torn tail that
// the next put truncates).
func (q *Queue) appendRecords(h *header, items [][]byte) (int, error) {
	f, err := q.openTail(h)
	if err != nil {
		return 0, err
	}
	size := 0
	for _, it := range items {
		if size += recordHeader + len(it); size >= batchBytes {
			break
		}
	}
	buf := make([]byte, 0, min(size, batchBytes+recordHeader+queue.MaxItemSize))
	k := 0
	for k < len(items) && (k == 0 || len(buf) < batchBytes) {
		rec := int64(recordHeader + len(items[k]))
		if used := int64(h.TailOff) + int64(len(buf)); used > 0 && used+rec > q.b.segSize {
			if f, err = q.roll(h, f, buf); err != nil {
				return 0, err
			}
			buf = buf[:0]
		}
		buf = appendRecord(buf, h.TailSeq, items[k])
		h.TailSeq++
		h.HeadBytes += int64(len(items[k]))
		k++
	}
	if err := q.writeTail(h, f, buf); err != nil {
		return 0, err
	}
	h.Puts += uint64(k)
	return k, nil
}

// openTail opens the tail segment and cuts off what an interrupted put
// left after the committed tail.
func (q *Queue) openTail(h *header) (*os.File, error) {
	f, err := q.seg(h.TailSeg, true)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("queue %q: %w", q.name, err)
	}
	if uint64(st.Size) > h.TailOff {
		if err := f.Truncate(int64(h.TailOff)); err != nil {
			return nil, fmt.Errorf("queue %q: discard torn tail: %w", q.name, err)
		}
	}
	return f, nil
}

func (q *Queue) writeTail(h *header, f *os.File, buf []byte) error {
	if _, err := f.WriteAt(buf, int64(h.TailOff)); err != nil {
		return fmt.Errorf("queue %q: write: %w", q.name, err)
	}
	h.TailOff += uint64(len(buf))
	if q.cfg.Durable {
		if err := datasync(f); err != nil {
			return fmt.Errorf("queue %q: sync: %w", q.name, err)
		}
	}
	return nil
}

// roll finishes the tail segment with buf and starts the next one.
func (q *Queue) roll(h *header, f *os.File, buf []byte) (*os.File, error) {
	if err := q.writeTail(h, f, buf); err != nil {
		return nil, err
	}
	h.TailSeg++
	h.TailOff = 0
	next, err := q.openTail(h)
	if err != nil {
		return nil, err
	}
	if q.cfg.Durable {
		if err := syncDir(q.dir); err != nil {
			return nil, fmt.Errorf("queue %q: sync: %w", q.name, err)
		}
	}
	return next, nil
}
