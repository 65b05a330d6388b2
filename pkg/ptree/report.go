package ptree

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// zombies writes one line (or JSON object) per zombie in nodes (all Z): who it is,
// who its parent is, how long it has been dead and how it died, and who must
// reap it.
func (p *printer) zombies(nodes []*node, asJSON, header bool) error {
	if header && !asJSON {
		p.w.WriteString("PID\tPPID\tPARENT\tZOMBIE_FOR\tNAME\tSTATUS\tHINT\n")
	}
	for _, n := range nodes {
		parent := "-"
		if n.parent != nil {
			parent = n.parent.Comm
		}
		age := p.t.clock.Elapsed(n.Stat)
		dead, err := proc.SinceLastRun(n.PID)
		hint := reapHint(n.PPID, parent)
		if asJSON {
			var deadSecs any
			if err == nil {
				deadSecs = round(dead.Seconds(), 1000)
			}
			kv := []keyValue{{"pid", n.PID}, {"ppid", n.PPID}, {"parent", parent}, {"name", n.Comm},
				{"zombie_seconds", deadSecs}, {"age_seconds", int(age.Seconds())}}
			kv = append(kv, exitFields(n.Stat)...)
			kv = append(kv, keyValue{"hint", hint})
			if err := writeObject(p.w, kv); err != nil {
				return err
			}
			continue
		}
		since := shortDuration(dead)
		if err != nil {
			since = "<=" + shortDuration(age) // no scheduler clock: at most its age
		}
		fmt.Fprintf(p.w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", n.PID, n.PPID, printable(parent), since, printable(n.Comm), exitText(n.Stat), hint)
	}
	return nil
}

func reapHint(ppid int, parent string) string {
	who := printable(parent) + "(" + strconv.Itoa(ppid) + ")"
	if ppid == 1 {
		return who + " must reap it; a PID 1 that does not reap needs a real init (tini, dumb-init)"
	}
	return who + " must wait(2) for it, or be killed so that it is reaped"
}

// exitText describes the wait status a zombie holds: exit=N or
// signal=NAME, "-" on kernels that do not report it.
func exitText(s proc.Stat) string {
	if !s.HasExit {
		return "-"
	}
	ws := syscall.WaitStatus(s.ExitCode)
	if ws.Signaled() {
		text := "signal=" + strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
		if ws.CoreDump() {
			text += "+core"
		}
		return text
	}
	return "exit=" + strconv.Itoa(ws.ExitStatus())
}

func exitFields(s proc.Stat) []keyValue {
	if !s.HasExit {
		return []keyValue{{"exit_code", nil}, {"signal", nil}}
	}
	ws := syscall.WaitStatus(s.ExitCode)
	if ws.Signaled() {
		return []keyValue{{"exit_code", nil}, {"signal", unix.SignalName(ws.Signal())}}
	}
	return []keyValue{{"exit_code", ws.ExitStatus()}, {"signal", nil}}
}

// isOrphan reports whether n looks orphaned: its session leader is gone and
// it was re-parented, to PID 1 or to a subreaper outside its session. A
// process keeps the session it was forked in, so a parent in another session
// is (nearly always) an adopter. Session leaders, kernel threads, zombies
// and processes of session 0 (never had a leader) are not orphans.
func (t *table) isOrphan(n *node) bool {
	if n.IsKernelThread() || n.PID == 1 || n.State == 'Z' || n.Session <= 0 || n.Session == n.PID || n.parent == nil {
		return false
	}
	if leader := t.byPID[n.Session]; leader != nil && leader.Session == n.Session {
		return false
	}
	return n.PPID == 1 || n.parent.Session != n.Session
}

// orphans writes one line (or JSON object) per orphan in nodes (all
// isOrphan), with the process that adopted it.
func (p *printer) orphans(nodes []*node, asJSON, header bool) error {
	if header && !asJSON {
		p.w.WriteString("PID\tPPID\tREAPER\tSID\tNAME\tAGE\tCMD\n")
	}
	for _, n := range nodes {
		age := p.t.clock.Elapsed(n.Stat)
		if asJSON {
			kv := []keyValue{{"pid", n.PID}, {"ppid", n.PPID}, {"reaper", n.parent.Comm}, {"sid", n.Session},
				{"name", n.Comm}, {"age_seconds", int(age.Seconds())}, {"cmd", unknownIf(p.t.Cmd(n), "-")}}
			if err := writeObject(p.w, kv); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(p.w, "%d\t%d\t%s\t%d\t%s\t%s\t%s\n", n.PID, n.PPID, printable(n.parent.Comm), n.Session, printable(n.Comm), shortDuration(age), p.t.Cmd(n))
	}
	return nil
}
