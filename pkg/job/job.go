// Package job keeps the durable records of the processes pspawn starts, in
// the runtime directory's jobs/: one JSON file per job, replaced atomically,
// so the exit status of a job outlives every process that knew it. A job is
// identified by its PID together with its start time and the boot it ran
// in, so a reused PID is never taken for the job.
package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/rundir"
	"golang.org/x/sys/unix"
)

// States of a job.
const (
	Running   = "running"   // started, not yet known to have ended
	Exited    = "exited"    // ended by exit(2); see ExitCode
	Killed    = "killed"    // ended by a signal; see Signal
	Timeout   = "timeout"   // stopped by its --timeout
	Unknown   = "unknown"   // gone, and how it ended cannot be known
	Backoff   = "backoff"   // --restart: between two runs
	Failed    = "failed"    // --restart: stopped after --max-restarts; see the last run's code
	Waiting   = "waiting"   // --after: not started yet
	Scheduled = "scheduled" // --in, --at: not started yet
	Queued    = "queued"    // --slots: not started yet, waiting for a slot
	// DependencyFailed: --after: a job waited for failed, so it never ran.
	DependencyFailed = "dependency-failed"
	// Lost is never written: it is what a reader makes of a record that
	// says Running when the supervisor that would record the end is gone
	// and the job still runs.
	Lost = "lost"
)

// Record is what pkit knows about one job.
type Record struct {
	ID         string   `json:"id"`
	Name       string   `json:"name,omitempty"`
	PID        int      `json:"pid"`
	PGID       int      `json:"pgid,omitempty"` // the job's own process group, if pspawn made one
	StartTime  uint64   `json:"start_time"`     // clock ticks after boot, from /proc/PID/stat
	BootID     string   `json:"boot_id,omitempty"`
	Cmd        []string `json:"cmd"`
	Cwd        string   `json:"cwd,omitempty"`
	Log        string   `json:"log,omitempty"`
	Supervisor int      `json:"supervisor,omitempty"`
	// SupervisorStart is the supervisor's start time, so that a process
	// that reused its PID is not taken for it.
	SupervisorStart uint64     `json:"supervisor_start,omitempty"`
	Started         time.Time  `json:"started"`
	Ended           *time.Time `json:"ended,omitempty"`
	State           string     `json:"state"`
	ExitCode        *int       `json:"exit_code"`
	Signal          int        `json:"signal,omitempty"`
	TimedOut        bool       `json:"timed_out,omitempty"`
	// Restart is the job's --restart policy; such a job is joined through
	// its supervisor, which outlives every run.
	Restart string `json:"restart,omitempty"`
	// Runs is the number of the current (or last) run of a --restart job;
	// each ended run is a line of its runs file (RunsPath).
	Runs int `json:"runs,omitempty"`
	// Held: the job has a supervisor of its own (--restart, --after),
	// which writes its final record before it exits.
	Held bool `json:"held,omitempty"`
	// Copied: the supervisor copies the job's output to its log
	// (--log-max, --ready-line), and writes the end once the copy has
	// caught up, so a waiter who wants the whole log waits for the record.
	Copied bool `json:"copied,omitempty"`
	// file is the file the record was read from (nil if it was not),
	// for Store.Changed.
	file fs.FileInfo
}

// Final reports whether the record holds the job's end.
func (r *Record) Final() bool {
	return r.State != Running && r.State != Backoff && !r.Pending()
}

// Pending reports whether the job waits to start: scheduled, waiting for
// other jobs, or queued for a slot.
func (r *Record) Pending() bool {
	return r.State == Waiting || r.State == Scheduled || r.State == Queued
}

// Label is the job's name, or its id when it has none.
func (r *Record) Label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.ID
}

// SetEnd records how the job ended: a wait status, when.
func (r *Record) SetEnd(exited bool, code int, sig int, at time.Time) {
	r.Ended = &at
	switch {
	case sig != 0:
		r.Signal, r.ExitCode, r.State = sig, nil, Killed
	case exited:
		c := code
		r.ExitCode, r.State = &c, Exited
	default:
		r.State = Unknown
	}
	if r.TimedOut {
		r.State = Timeout
	}
}

// Running process identity ------------------------------------------------

// BootID returns this boot's identifier (empty where there is none).
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// Is reports whether process pid is still the job: same boot, same start
// time, and not a zombie or already dead.
func (r *Record) Is(bootID string) bool {
	if r.BootID != "" && bootID != "" && r.BootID != bootID {
		return false
	}
	s, err := proc.ReadStat(r.PID)
	return err == nil && s.StartTime == r.StartTime && s.State != 'Z' && s.State != 'X'
}

// SupervisorGone reports whether the process that would record the job's
// end is gone (dead, a zombie, or its PID reused), so that the record can
// no longer change by itself.
func (r *Record) SupervisorGone(bootID string) bool {
	if r.Supervisor <= 0 {
		return false // written by something else: nothing to check
	}
	if r.BootID != "" && bootID != "" && r.BootID != bootID {
		return true
	}
	s, err := proc.ReadStat(r.Supervisor)
	return err != nil || s.State == 'Z' || s.State == 'X' ||
		r.SupervisorStart != 0 && s.StartTime != r.SupervisorStart
}

// Store --------------------------------------------------------------------

// Store is the directory of job records.
type Store struct{ Dir string }

// Open returns the store in the runtime directory.
func Open() (*Store, error) {
	dir, err := rundir.Subdir("jobs")
	if err != nil {
		return nil, err
	}
	return &Store{Dir: dir}, nil
}

func (s *Store) path(id string) string { return filepath.Join(s.Dir, id+".json") }

// LogPath is where a job's output goes by default.
func (s *Store) LogPath(id string) string { return filepath.Join(s.Dir, id+".log") }

// RunsPath is where the ended runs of a --restart job are listed.
func (s *Store) RunsPath(id string) string { return filepath.Join(s.Dir, id+".runs") }

// AppendRun adds one ended run of r to its runs file as a line
// "RUN<tab>PID<tab>START<tab>END<tab>CODE" (RFC 3339 times; CODE as pjoin
// prints it: N, -SIG, or ? unknown). Appending keeps the cost of a run
// and the supervisor's memory the same however many runs came before.
func (s *Store) AppendRun(r *Record) error {
	f, err := os.OpenFile(s.RunsPath(r.ID), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record run of job %s: %w", r.ID, err)
	}
	end := time.Now()
	if r.Ended != nil {
		end = *r.Ended
	}
	code := "?"
	switch {
	case r.Signal != 0:
		code = "-" + strconv.Itoa(r.Signal)
	case r.ExitCode != nil:
		code = strconv.Itoa(*r.ExitCode)
	}
	line := fmt.Sprintf("%d\t%d\t%s\t%s\t%s\n", r.Runs, r.PID, r.Started.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano), code)
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record run of job %s: %w", r.ID, err)
	}
	return nil
}

// Lock takes the store's lock, which serialises id allocation and the
// check that a name is free; call the returned function to release it.
func (s *Store) Lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock jobs: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock jobs: %w", err)
	}
	return func() { f.Close() }, nil
}

// NewID allocates the next job id, j1, j2, ...; the caller holds the lock.
// Ids are never reused, even after their records are forgotten.
func (s *Store) NewID() (string, error) {
	seqPath := filepath.Join(s.Dir, ".seq")
	n := 0
	if b, err := os.ReadFile(seqPath); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n++
	if err := writeAtomic(seqPath, []byte(strconv.Itoa(n)+"\n")); err != nil {
		return "", fmt.Errorf("allocate job id: %w", err)
	}
	return "j" + strconv.Itoa(n), nil
}

// Write stores r, replacing its previous version atomically.
func (s *Store) Write(r *Record) error {
	if err := writeAtomic(s.path(r.ID), append(r.appendJSON(nil), '\n')); err != nil {
		return fmt.Errorf("write job %s: %w", r.ID, err)
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// ErrNoJob is returned for a job that has no record.
var ErrNoJob = errors.New("no such job")

// Read loads the record of job id.
func (s *Store) Read(id string) (*Record, error) {
	f, err := os.Open(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("job %s: %w", id, ErrNoJob)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	r := Record{file: fi}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("job %s: bad record: %w", id, err)
	}
	return &r, nil
}

// Changed reports whether r may no longer be what its file holds: the
// file was replaced or removed since Store.Read read r from it, or r was
// not read from it. A record is never written in place but renamed over
// the old one, so the same file (device, inode) with the same size and
// modification time is the same record: an inode freed by one rename
// and reused by the next write would also need the same length and time.
func (s *Store) Changed(r *Record) bool {
	if r.file == nil {
		return true
	}
	fi, err := os.Stat(s.path(r.ID))
	return err != nil || !os.SameFile(fi, r.file) || fi.Size() != r.file.Size() || !fi.ModTime().Equal(r.file.ModTime())
}

// List returns every record, oldest first.
func (s *Store) List() ([]*Record, error) {
	names, err := filepath.Glob(filepath.Join(s.Dir, "j*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, n := range names {
		r, err := s.Read(strings.TrimSuffix(filepath.Base(n), ".json"))
		if err != nil {
			continue // forgotten meanwhile, or not ours
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return idNum(out[i].ID) < idNum(out[j].ID) })
	return out, nil
}

func idNum(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "j"))
	return n
}

// Remove deletes a job's record and its default log.
func (s *Store) Remove(r *Record) error {
	if err := os.Remove(s.path(r.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget job %s: %w", r.ID, err)
	}
	if r.Log == s.LogPath(r.ID) {
		os.Remove(r.Log)
		os.Remove(r.Log + ".1") // pspawn --log-max
	}
	os.Remove(s.RunsPath(r.ID))
	return nil
}

// IsID reports whether ref looks like a job id (j followed by digits).
func IsID(ref string) bool {
	if len(ref) < 2 || ref[0] != 'j' {
		return false
	}
	_, err := strconv.Atoi(ref[1:])
	return err == nil
}

// Find resolves a job id or name to its record: for a name, the running
// job that has it, else the latest that had it. ErrNoJob if none.
func (s *Store) Find(ref string) (*Record, error) {
	if IsID(ref) {
		return s.Read(ref)
	}
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var running, latest *Record
	for _, r := range all {
		if r.Name == ref {
			latest = r
			if !r.Final() {
				running = r
			}
		}
	}
	found := running
	if found == nil {
		found = latest
	}
	if found == nil {
		return nil, fmt.Errorf("job %q: %w", ref, ErrNoJob)
	}
	return found, nil
}

// ByPID returns the record of the job that is process pid with the given
// start time (0: any start time, the latest record wins), or nil.
func (s *Store) ByPID(pid int, startTime uint64) (*Record, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var found *Record
	for _, r := range all {
		if r.PID == pid && (startTime == 0 || r.StartTime == startTime) {
			found = r
		}
	}
	return found, nil
}

// Running returns the running job named name (checked against the process
// table, so a job whose supervisor died is not counted), or nil.
func (s *Store) Running(name string) (*Record, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	boot := BootID()
	for _, r := range all {
		if r.Name == name && r.State == Running && r.Is(boot) {
			return r, nil
		}
	}
	return nil, nil
}
