package local

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
)

// startGroup starts `sleep 60` leading a process group of its own, killed
// and reaped at the end of the test.
func startGroup(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

// A lease whose holder died is free only once the process group attached
// to it is gone: while the group runs nothing is delivered (a waiting get
// keeps waiting), and a get waiting when it ends gets the item at once.
func TestOrphanedLeaseWaitsForGroup(t *testing.T) {
	b := New(t.TempDir(), Options{})
	defer b.Close()
	ctx := context.Background()
	q, err := b.Create(ctx, "orphan", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Put(ctx, [][]byte{[]byte("job")}, false); err != nil {
		t.Fatal(err)
	}
	holder, work := startGroup(t), startGroup(t)
	items, err := q.Get(ctx, 1, queue.GetOptions{Lease: time.Minute, HolderPID: holder.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Attach(ctx, items[0].ID, work.Process.Pid); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	holder.Process.Kill()
	holder.Wait()
	if _, err := q.Get(ctx, 1, queue.GetOptions{NoWait: true}); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("get while the dead holder's group runs = %v, want ErrEmpty", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = q.Get(wctx, 1, queue.GetOptions{})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting get while the group runs = %v, want a timeout", err)
	}
	if st, err := q.Stats(ctx); err != nil || st.Leased != 1 {
		t.Fatalf("stats while the group runs: %+v, %v", st, err)
	}
	got := make(chan error, 1)
	var again []queue.Item
	go func() {
		var err error
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		again, err = q.Get(wctx, 1, queue.GetOptions{Lease: time.Minute})
		got <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it wait: the wake-up is what is tested
	syscall.Kill(-work.Process.Pid, syscall.SIGKILL)
	work.Wait()
	if err := <-got; err != nil {
		t.Fatalf("get after the group ended: %v", err)
	}
	if string(again[0].Data) != "job" || again[0].Deliveries != 2 {
		t.Errorf("redelivery: %q, deliveries %d", again[0].Data, again[0].Deliveries)
	}
}

// A lease-table entry written by version 1 (no process group) reads as
// one without a group, and the group round-trips.
func TestSlotGroupField(t *testing.T) {
	s := slot{State: slotLeased, Deliveries: 2, Seq: 7, HolderPID: 10, HolderTime: 11, Deadline: 12}
	var b [slotSize]byte
	s.marshal(b[:])
	var got slot
	got.unmarshal(b[:])
	if got != s || got.HolderPGID != 0 {
		t.Fatalf("version 1 entry read as %+v", got)
	}
	s.HolderPGID = 4242
	s.marshal(b[:])
	got.unmarshal(b[:])
	if got != s {
		t.Fatalf("entry with a group read as %+v, want %+v", got, s)
	}
}

// An item given back while another is leased stays deliverable after a
// Stats or Join (which settle the queue without delivering) rewrote the
// header: its due time must not be dropped from the next event.
func TestSettleKeepsDueRetry(t *testing.T) {
	b := New(t.TempDir(), Options{})
	defer b.Close()
	ctx := context.Background()
	q, err := b.Create(ctx, "due", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Put(ctx, [][]byte{[]byte("held"), []byte("back")}, false); err != nil {
		t.Fatal(err)
	}
	items, err := q.Get(ctx, 2, queue.GetOptions{Lease: time.Minute})
	if err != nil || len(items) != 2 {
		t.Fatalf("get: %v, %d items", err, len(items))
	}
	if err := q.Nack(ctx, items[1].ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := q.Get(ctx, 1, queue.GetOptions{NoWait: true})
	if err != nil || string(again[0].Data) != "back" {
		t.Fatalf("get after Stats: %v, %v", again, err)
	}
}
