package pspawn

import (
	"fmt"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/procwait"
)

// After is the grammar of the dependency flags, embedded in CLI.
type After struct {
	After    []string `name:"after" sep:"," placeholder:"JOB,..." help:"Start only once every JOB (id or name) has ended with status 0; if one fails the job never starts and is recorded as dependency-failed (default: none)." completion-predictor:"jobs"`
	AfterAny []string `name:"after-any" sep:"," placeholder:"JOB,..." help:"Start once every JOB has ended, whatever its status (default: none)." completion-predictor:"jobs"`
}

// plan resolves the jobs named (each must have a record: running,
// waiting or ended) under the store's lock and puts their ids in sp.
func (a *After) plan(sp *spec, store *job.Store) error {
	if len(a.After) == 0 && len(a.AfterAny) == 0 {
		return nil
	}
	if sp.Foreground {
		return cli.Usagef("--after and --wait exclude each other")
	}
	for _, list := range []struct {
		refs []string
		any  bool
	}{{a.After, false}, {a.AfterAny, true}} {
		for _, ref := range list.refs {
			if !job.IsID(ref) {
				if err := cli.ValidName("job", ref); err != nil {
					return err
				}
			}
			rec, err := store.Find(ref)
			if err != nil {
				return cli.Usagef("--after %s: no such job", ref)
			}
			sp.After = append(sp.After, dependency{ID: rec.ID, Any: list.any})
		}
	}
	return nil
}

// dependency is one job the started job waits for.
type dependency struct {
	ID  string
	Any bool // --after-any: its status does not matter
}

// held reports whether the job's records are written around its runs by
// a supervisor of its own, which pjoin waits for.
func (sp *spec) held() bool {
	return sp.Policy.When != "" || len(sp.After) > 0 || !sp.StartAt.IsZero()
}

// awaitDependencies waits for each dependency's end of the job of rec
// (recorded as waiting): on the pidfd of the supervisor that will record
// it, re-reading the record when that supervisor exits. It returns false,
// with the job recorded as dependency-failed, if one failed: ended with
// another status than 0 (for --after), or lost, or unknown.
func (s *supervisor) awaitDependencies(rec *job.Record) bool {
	for _, d := range s.sp.After {
		if why := s.await(d); why != "" {
			fmt.Fprintf(s.errw, "pspawn: job %s: dependency %s %s\n", rec.ID, d.ID, why)
			now := time.Now()
			rec.Ended, rec.State = &now, job.DependencyFailed
			s.write(rec)
			return false
		}
	}
	return true
}

// await waits for one dependency and says why it failed ("" if not).
func (s *supervisor) await(d dependency) string {
	for {
		dep, err := s.store.Read(d.ID)
		switch {
		case err != nil:
			return "has no record"
		case dep.Final():
			if d.Any || dep.State == job.Exited && dep.ExitCode != nil && *dep.ExitCode == 0 {
				return ""
			}
			if dep.State == job.Exited && dep.ExitCode != nil {
				return fmt.Sprintf("exited %d", *dep.ExitCode)
			}
			return "ended " + dep.State
		case dep.SupervisorGone(s.boot):
			if d.Any {
				return "" // ended or lost: its end will never be known
			}
			return "is lost"
		}
		p, err := procwait.Open(dep.Supervisor)
		if err != nil {
			continue // gone meanwhile: the record says how
		}
		if st, err := p.ReadStat(); err == nil && st.StartTime == dep.SupervisorStart || err != nil && p.Exited() {
			procwait.Wait([]*procwait.Proc{p}, -1)
		}
		p.Close()
	}
}
