package local

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
)

func TestRecordRoundTrip(t *testing.T) {
	var buf []byte
	items := [][]byte{{}, []byte("x"), bytes.Repeat([]byte{0, 1, 2}, 1000)}
	for i, it := range items {
		buf = appendRecord(buf, uint64(100+i), it)
	}
	for i, want := range items {
		seq, got, size, need, err := decodeRecord(buf)
		if err != nil || need != 0 || seq != uint64(100+i) || !bytes.Equal(got, want) {
			t.Fatalf("record %d: seq %d, %d bytes, need %d, err %v", i, seq, len(got), need, err)
		}
		buf = buf[size:]
	}
	// Every truncation asks for more; every flipped bit is caught.
	rec := appendRecord(nil, 7, []byte("hello"))
	for n := range len(rec) {
		if _, _, _, need, err := decodeRecord(rec[:n]); err != nil || need == 0 {
			t.Errorf("prefix of %d bytes: need %d, err %v", n, need, err)
		}
	}
	for i := range len(rec) * 8 {
		bad := bytes.Clone(rec)
		bad[i/8] ^= 1 << (i % 8)
		if _, _, _, need, err := decodeRecord(bad); err == nil && need == 0 {
			t.Errorf("bit %d flipped: accepted", i)
		}
	}
}

// FuzzDecodeRecord feeds arbitrary segment bytes to the decoder: it must
// never panic, never return a payload beyond its input, and whatever it
// accepts must re-encode to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, 1, []byte("item")))
	f.Add(appendRecord(appendRecord(nil, 1, nil), 2, []byte("two")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			seq, payload, size, need, err := decodeRecord(b)
			if err != nil || need > 0 {
				if need > 0 && need <= len(b) {
					t.Fatalf("need %d with %d bytes present", need, len(b))
				}
				return
			}
			if size > len(b) || size != recordHeader+len(payload) {
				t.Fatalf("size %d of %d bytes, payload %d", size, len(b), len(payload))
			}
			if !bytes.Equal(appendRecord(nil, seq, payload), b[:size]) {
				t.Fatal("accepted record does not re-encode to itself")
			}
			b = b[size:]
		}
	})
}

// FuzzHeader: a state file's header copies are untrusted bytes too.
func FuzzHeader(f *testing.F) {
	good := make([]byte, headerSize)
	h := header{Gen: 3, TailSeq: 9, Cfg: queue.Config{MaxSize: 4}}
	h.marshal(good)
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < headerSize {
			b = append(b, make([]byte, headerSize-len(b))...)
		}
		var h header
		if h.unmarshal(b[:headerSize]) {
			out := make([]byte, headerSize)
			h.marshal(out)
			var again header
			if !again.unmarshal(out) || again != h {
				t.Fatal("accepted header does not round-trip")
			}
		}
	})
}

// FuzzSlot: lease-table entries are untrusted bytes too; whatever they
// hold decodes to an entry that re-encodes to the bytes the format
// defines (the padding bytes no field uses come back zero).
func FuzzSlot(f *testing.F) {
	var good [slotSize]byte
	(&slot{State: slotLeased, Deliveries: 3, Seq: 9, Len: 4, HolderPID: 5, HolderTime: 6, Deadline: 7, HolderPGID: 8}).marshal(good[:])
	f.Add(good[:])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < slotSize {
			b = append(b, make([]byte, slotSize-len(b))...)
		}
		var s, again slot
		s.unmarshal(b[:slotSize])
		var out [slotSize]byte
		s.marshal(out[:])
		again.unmarshal(out[:])
		if again != s {
			t.Fatalf("entry %+v does not round-trip: %+v", s, again)
		}
	})
}

// An interrupted lease-get (lease-table entry written, header not) and an
// interrupted put (records written past the tail) are repaired by the next
// operation: the item is delivered exactly once, the torn bytes dropped.
func TestRecoverInterrupted(t *testing.T) {
	ctx := context.Background()
	b := New(t.TempDir(), Options{})
	qi, err := b.Create(ctx, "q", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	q := qi.(*Queue)
	defer q.Close()
	if _, err := q.Put(ctx, [][]byte{[]byte("a"), []byte("b")}, false); err != nil {
		t.Fatal(err)
	}
	// Half a lease-get of "a": dirty header and a table entry, no commit.
	var h header
	if err := q.lock(&h); err != nil {
		t.Fatal(err)
	}
	if err := q.markDirty(&h); err != nil {
		t.Fatal(err)
	}
	s := slot{State: slotLeased, Deliveries: 1, Seq: h.HeadSeq, Seg: h.HeadSeg, Off: h.HeadOff, Len: 1, Deadline: 1 << 62}
	if err := q.writeSlot(0, &s); err != nil {
		t.Fatal(err)
	}
	// Half a put: a torn record after the tail.
	seg := filepath.Join(q.dir, segName(h.TailSeg))
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(appendRecord(nil, h.TailSeq, []byte("torn"))[:10])
	f.Close()
	q.unlock()

	other, err := b.Open(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if st, err := other.Stats(ctx); err != nil || st.Ready != 2 || st.Leased != 0 {
		t.Fatalf("after recovery: %+v, %v", st, err)
	}
	if _, err := other.Put(ctx, [][]byte{[]byte("c")}, false); err != nil {
		t.Fatal(err)
	}
	items, err := other.Get(ctx, 10, queue.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, string(it.Data))
	}
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("after recovery got %q, want [a b c]", got)
	}
}

// Consumed segments are deleted: a long stream never leaves more than the
// segments still holding ready or leased items.
func TestSegmentsReclaimed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := New(dir, Options{SegmentSize: 1024})
	q, err := b.Create(ctx, "q", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	item := bytes.Repeat([]byte("z"), 100)
	for range 50 {
		if _, err := q.Put(ctx, [][]byte{item, item, item}, false); err != nil {
			t.Fatal(err)
		}
	}
	held, err := q.Get(ctx, 1, queue.GetOptions{Lease: queue.DefaultLease})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := q.Get(ctx, 7, queue.GetOptions{NoWait: true}); err != nil {
			break
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "q", "*.seg"))
	if len(segs) < 1 {
		t.Fatalf("the leased item's segment was deleted")
	}
	if err := q.Done(ctx, held[0].ID); err != nil {
		t.Fatal(err)
	}
	if segs, _ = filepath.Glob(filepath.Join(dir, "q", "*.seg")); len(segs) > 1 {
		t.Errorf("drained queue keeps %d segments", len(segs))
	}
	if st, _ := q.Stats(ctx); st.Bytes != 0 || st.Ready != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// A durable queue takes the fsync paths: puts (with a segment roll), leases,
// acknowledgements, and a reopen sees everything.
func TestDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := New(dir, Options{SegmentSize: 64})
	q, err := b.Create(ctx, "d", queue.Config{Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Put(ctx, [][]byte{[]byte("one"), bytes.Repeat([]byte("2"), 100), []byte("three")}, false); err != nil {
		t.Fatal(err)
	}
	it, err := q.Get(ctx, 1, queue.GetOptions{Lease: queue.DefaultLease})
	if err != nil || string(it[0].Data) != "one" {
		t.Fatalf("Get = %v, %v", it, err)
	}
	if err := q.Done(ctx, it[0].ID); err != nil {
		t.Fatal(err)
	}
	q.Close()
	again, err := New(dir, Options{SegmentSize: 64}).Open(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !again.Config().Durable {
		t.Error("durability not kept")
	}
	items, err := again.Get(ctx, 5, queue.GetOptions{NoWait: true})
	if err != nil || len(items) != 2 || string(items[1].Data) != "three" {
		t.Fatalf("after reopen: %d items, %v", len(items), err)
	}
}

// The lease table's space comes back once no item is leased or delayed.
func TestLeaseTableShrinks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	q, err := New(dir, Options{}).Create(ctx, "q", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	items := make([][]byte, 1000)
	for i := range items {
		items[i] = []byte("x")
	}
	if _, err := q.Put(ctx, items, false); err != nil {
		t.Fatal(err)
	}
	leased, err := q.Get(ctx, 1000, queue.GetOptions{Lease: time.Minute})
	if err != nil || len(leased) != 1000 {
		t.Fatalf("Get = %d items, %v", len(leased), err)
	}
	state := filepath.Join(dir, "q", stateFile)
	if fi, _ := os.Stat(state); fi.Size() < slotsOffset+1000*slotSize {
		t.Fatalf("state file has %d bytes with 1000 leases", fi.Size())
	}
	ids := make([]string, len(leased))
	for i, it := range leased {
		ids[i] = it.ID
	}
	if err := q.Done(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(state); fi.Size() != slotsOffset {
		t.Errorf("state file keeps %d bytes after every lease is done", fi.Size())
	}
}

// A get killed after dropping a consumed segment from its header, but
// before committing the header, must leave that segment in place: the
// committed header still reads from it. A segment whose deletion a kill
// after the commit prevented is deleted by the next segment drop.
func TestGCInterrupted(t *testing.T) {
	ctx := context.Background()
	b := New(t.TempDir(), Options{SegmentSize: 256})
	qi, err := b.Create(ctx, "q", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	q := qi.(*Queue)
	defer q.Close()
	hdr := func() header {
		var h header
		if err := q.lock(&h); err != nil {
			t.Fatal(err)
		}
		q.unlock()
		return h
	}
	segExists := func(n uint64) bool {
		_, err := os.Stat(filepath.Join(q.dir, segName(n)))
		return err == nil
	}
	put := 0
	for hdr().TailSeg < 2 {
		if _, err := q.Put(ctx, [][]byte{bytes.Repeat([]byte{'a' + byte(put%26)}, 100)}, false); err != nil {
			t.Fatal(err)
		}
		put++
	}
	// Consume segment 0 to its end; the head stays there.
	st0, err := os.Stat(filepath.Join(q.dir, segName(0)))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for h := hdr(); h.HeadSeg == 0 && h.HeadOff < uint64(st0.Size()); h = hdr() {
		if _, err := q.Get(ctx, 1, queue.GetOptions{NoWait: true}); err != nil {
			t.Fatal(err)
		}
		got++
	}
	// Half a get: it moves the head into segment 1 and drops segment 0,
	// and is killed before its commit.
	var h header
	if err := q.lock(&h); err != nil {
		t.Fatal(err)
	}
	if recs, err := q.readHead(&h, 1, h.TailSeg+1); err != nil || len(recs) != 1 || h.HeadSeg != 1 {
		t.Fatalf("read head: %d records, head in segment %d, %v", len(recs), h.HeadSeg, err)
	}
	q.gcSegments(&h)
	q.unlock()
	if !segExists(0) {
		t.Fatal("segment 0 deleted before the header that drops it was committed")
	}
	items, err := q.Get(ctx, 1000, queue.GetOptions{NoWait: true})
	if err != nil || got+len(items) != put {
		t.Fatalf("after the interrupted get: %d of %d items, %v", got+len(items), put, err)
	}
	if segExists(0) || segExists(1) {
		t.Fatal("consumed segments not deleted")
	}
	// A segment left behind by a kill after the commit goes with the next.
	if err := os.WriteFile(filepath.Join(q.dir, segName(0)), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	for first := hdr().FirstSeg; hdr().FirstSeg == first; {
		if _, err := q.Put(ctx, [][]byte{bytes.Repeat([]byte{'z'}, 100)}, false); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Get(ctx, 1, queue.GetOptions{NoWait: true}); err != nil {
			t.Fatal(err)
		}
	}
	if segExists(0) {
		t.Fatal("segment left by an interrupted deletion not deleted")
	}
}

// TestDamagedNewer: which damaged header copy is reported as a rollback.
func TestDamagedNewer(t *testing.T) {
	withGen := func(gen uint64) []byte {
		b := make([]byte, headerSize)
		(&header{Gen: gen}).marshal(b)
		b[100] ^= 0xff // damage outside the generation field
		return b
	}
	garbled := withGen(6)
	garbled[9] ^= 0xff // the generation field too
	for _, c := range []struct {
		name string
		copy []byte
		gen  uint64
		want bool
	}{
		{"never written (a new queue's copy 0)", make([]byte, headerSize), 1, false},
		{"the older copy", withGen(4), 5, false},
		{"the newer copy", withGen(6), 5, true},
		{"generation unreadable", garbled, 5, true},
	} {
		if got := damagedNewer(c.copy, c.gen); got != c.want {
			t.Errorf("%s: damagedNewer = %v, want %v", c.name, got, c.want)
		}
	}
}
