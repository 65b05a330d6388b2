package pspawn

import (
	"os"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/job"
)

// Schedule is the grammar of the deferred start, embedded in CLI.
type Schedule struct {
	In cli.Duration `name:"in" placeholder:"DUR" help:"Start the command DUR from now; the job is scheduled until then (default: at once)."`
	At string       `name:"at" placeholder:"TIME" help:"Start the command at TIME: HH:MM local time (the next such time) or RFC 3339 (default: at once)."`
}

// plan turns --in or --at into the start time in sp.
func (c *Schedule) plan(sp *spec, now time.Time) error {
	if c.In == 0 && c.At == "" {
		return nil
	}
	switch {
	case c.In != 0 && c.At != "":
		return cli.Usagef("--in and --at exclude each other")
	case sp.Foreground:
		return cli.Usagef("--in and --at: not with --wait")
	case c.In < 0:
		return cli.Usagef("--in %s: want a positive duration", c.In.D())
	case c.In > 0:
		sp.StartAt = now.Add(c.In.D())
		return nil
	}
	at, err := parseAt(c.At, now)
	if err != nil {
		return cli.Usagef("--at %q: want HH:MM or RFC 3339 (2006-01-02T15:04:05Z07:00)", c.At)
	}
	sp.StartAt = at
	return nil
}

// parseAt reads HH:MM (local time, today or else tomorrow) or RFC 3339.
func parseAt(s string, now time.Time) (time.Time, error) {
	if t, err := time.ParseInLocation("15:04", s, now.Location()); err == nil {
		at := time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), 0, 0, now.Location())
		if !at.After(now) {
			at = at.AddDate(0, 0, 1)
		}
		return at, nil
	}
	return time.Parse(time.RFC3339, s)
}

// hold keeps a job that must not start yet: recorded as scheduled until
// its --in/--at time, then as waiting for its --after jobs. It returns
// false if the job is not to start (recorded as dependency-failed).
func (s *supervisor) hold(j jobSpec) bool {
	rec := &job.Record{ID: j.ID, Name: j.Name, Cmd: j.Argv, Log: j.Log, BootID: s.boot,
		Supervisor: os.Getpid(), SupervisorStart: s.start, Started: time.Now(),
		Restart: s.sp.Policy.When, Held: true}
	if d := time.Until(s.sp.StartAt); !s.sp.StartAt.IsZero() {
		rec.State = job.Scheduled
		s.write(rec)
		time.Sleep(d)
	}
	if len(s.sp.After) == 0 {
		return true
	}
	rec.State = job.Waiting
	s.write(rec)
	return s.awaitDependencies(rec)
}
