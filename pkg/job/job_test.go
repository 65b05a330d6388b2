package job

import (
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
)

func testStore(t *testing.T) *Store {
	t.Setenv("PKIT_DIR", t.TempDir())
	s, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIDsAreUniqueUnderConcurrency(t *testing.T) {
	s := testStore(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				unlock, err := s.Lock()
				if err != nil {
					t.Error(err)
					return
				}
				id, err := s.NewID()
				unlock()
				mu.Lock()
				if err != nil || seen[id] {
					t.Errorf("NewID = %q, %v (seen %v)", id, err, seen[id])
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 80 || !seen["j1"] || !seen["j80"] {
		t.Errorf("got %d ids", len(seen))
	}
}

func TestWriteReadFindRemove(t *testing.T) {
	s := testStore(t)
	code := 3
	end := time.Now()
	old := &Record{ID: "j1", Name: "web", PID: 10, State: Exited, ExitCode: &code, Ended: &end, Log: s.LogPath("j1")}
	cur := &Record{ID: "j2", Name: "web", PID: 11, State: Running}
	other := &Record{ID: "j10", PID: 12, State: Running}
	for _, r := range []*Record{old, cur, other} {
		if err := s.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(old.Log, []byte("x"), 0o600)
	all, err := s.List()
	if err != nil || len(all) != 3 || all[0].ID != "j1" || all[2].ID != "j10" {
		t.Fatalf("List = %v, %v", all, err)
	}
	if r, err := s.Find("web"); err != nil || r.ID != "j2" {
		t.Errorf("Find(web) = %v, %v; want the running j2", r, err)
	}
	if r, err := s.Find("j1"); err != nil || *r.ExitCode != 3 || !r.Final() {
		t.Errorf("Find(j1) = %+v, %v", r, err)
	}
	if _, err := s.Find("nope"); !errors.Is(err, ErrNoJob) {
		t.Errorf("Find(nope) = %v", err)
	}
	if r, _ := s.ByPID(12, 0); r == nil || r.ID != "j10" {
		t.Errorf("ByPID(12) = %v", r)
	}
	if r, _ := s.ByPID(12, 99); r != nil {
		t.Errorf("ByPID with another start time = %v, want none", r)
	}
	if err := s.Remove(old); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old.Log); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log not removed: %v", err)
	}
	if r, err := s.Find("web"); err != nil || r.ID != "j2" {
		t.Errorf("after Remove: Find(web) = %v, %v", r, err)
	}
}

func TestSetEnd(t *testing.T) {
	var r Record
	r.SetEnd(true, 0, 0, time.Now())
	if r.State != Exited || *r.ExitCode != 0 {
		t.Errorf("exit 0: %+v", r)
	}
	r = Record{}
	r.SetEnd(false, 0, 9, time.Now())
	if r.State != Killed || r.ExitCode != nil || r.Signal != 9 {
		t.Errorf("killed: %+v", r)
	}
	r = Record{TimedOut: true}
	r.SetEnd(false, 0, 15, time.Now())
	if r.State != Timeout || r.Signal != 15 {
		t.Errorf("timeout: %+v", r)
	}
}

// TestIsChecksStartTime: the record of this process matches it; the same
// PID with another start time (a reused PID) does not.
func TestIsChecksStartTime(t *testing.T) {
	st, err := proc.ReadStat(os.Getpid())
	if err != nil {
		t.Skip(err)
	}
	boot := BootID()
	r := &Record{PID: os.Getpid(), StartTime: st.StartTime, BootID: boot}
	if !r.Is(boot) {
		t.Error("own record not recognised")
	}
	r.StartTime++
	if r.Is(boot) {
		t.Error("a different start time was taken for the same process")
	}
	r.StartTime--
	if r.Is("another-boot") {
		t.Error("a record of another boot was taken for this process")
	}
}

func FuzzRecordJSON(f *testing.F) {
	f.Add([]byte(`{"id":"j1","pid":5,"start_time":7,"state":"exited","exit_code":3}`))
	f.Add([]byte(`{"id":"j2","exit_code":null,"signal":9}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if json.Unmarshal(b, &r) == nil {
			r.Final()
			r.Label()
		}
	})
}

// TestReadLong: Read loads a record of many KiB whole, and gives ErrNoJob
// for none.
func TestReadLong(t *testing.T) {
	s := testStore(t)
	long := make([]string, 300)
	for i := range long {
		long[i] = "argument"
	}
	r := &Record{ID: "j7", PID: 70, State: Running, Cmd: long}
	if err := s.Write(r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read("j7")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Cmd) != 300 || got.PID != 70 {
		t.Errorf("Read = %+v", got)
	}
	if _, err := s.Read("j8"); !errors.Is(err, ErrNoJob) {
		t.Errorf("Read(missing) = %v, want ErrNoJob", err)
	}
}

// TestSupervisorGone: a record's supervisor is this live process only
// with its own start time; a reused PID or another boot is gone.
func TestSupervisorGone(t *testing.T) {
	st, err := proc.ReadStat(os.Getpid())
	if err != nil {
		t.Skip(err)
	}
	boot := BootID()
	for _, tc := range []struct {
		r    Record
		gone bool
	}{
		{Record{Supervisor: os.Getpid(), SupervisorStart: st.StartTime, BootID: boot}, false},
		{Record{Supervisor: os.Getpid(), SupervisorStart: st.StartTime + 1, BootID: boot}, true},
		{Record{Supervisor: os.Getpid()}, false}, // an older record: PID only
		{Record{Supervisor: 4194303, SupervisorStart: 1}, true},
		{Record{}, false}, // no supervisor to check
	} {
		if got := tc.r.SupervisorGone(boot); got != tc.gone {
			t.Errorf("%+v: SupervisorGone = %v, want %v", tc.r, got, tc.gone)
		}
	}
	if boot != "" {
		r := Record{Supervisor: os.Getpid(), SupervisorStart: st.StartTime, BootID: "another-boot"}
		if !r.SupervisorGone(boot) {
			t.Error("a supervisor of another boot is not gone")
		}
	}
}

// TestChanged: a record read is unchanged until its file is replaced
// (even by the same bytes) or removed; one not read is always changed.
func TestChanged(t *testing.T) {
	s := testStore(t)
	rec := &Record{ID: "j1", PID: 10, State: Running}
	if err := s.Write(rec); err != nil {
		t.Fatal(err)
	}
	if !s.Changed(rec) {
		t.Error("a record not read from the store: Changed = false")
	}
	got, err := s.Read("j1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Changed(got) {
		t.Error("a record just read: Changed = true")
	}
	rec.TimedOut = true
	if err := s.Write(rec); err != nil {
		t.Fatal(err)
	}
	if !s.Changed(got) {
		t.Error("after a write: Changed = false")
	}
	if got, err = s.Read("j1"); err != nil || !got.TimedOut || s.Changed(got) {
		t.Fatalf("read again: %+v, %v, Changed %v", got, err, s.Changed(got))
	}
	if err := s.Write(got); err != nil {
		t.Fatal(err)
	}
	if !s.Changed(got) {
		t.Error("after writing the same record: Changed = false")
	}
	if got, err = s.Read("j1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(got); err != nil {
		t.Fatal(err)
	}
	if !s.Changed(got) {
		t.Error("after Remove: Changed = false")
	}
}
