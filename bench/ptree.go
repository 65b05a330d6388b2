package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
)

var ptreeSuite = Suite{
	Name:  "ptree",
	About: "full process tree with 2,000 extra sleep processes: ptree against pstree -p and ps; %cpu sorting against ps and top, ports against ss, and the CPU a 1 s watcher uses",
	Run:   benchPtree,
}

// extraSleepers is how many processes the bench adds to the table, as the
// issue's goal states it (≤ 40 ms median, ≥ 3× faster than pstree -p).
const extraSleepers = 2000

func benchPtree(b *Bench) error {
	stop, err := startSleepers(extraSleepers)
	if err != nil {
		return err
	}
	defer stop()
	pids, err := proc.PIDs()
	if err != nil {
		return err
	}
	fmt.Printf("  %d processes in the table (%d extra sleep)\n", len(pids), extraSleepers)

	err = b.Compare("full tree to /dev/null", 0,
		Case{Name: "ptree", Shell: "ptree >/dev/null", Base: true},
		Case{Name: "ptree --json", Shell: "ptree --json >/dev/null"},
		Case{Name: "ptree -o pid,ppid,stat,name", Shell: "ptree -o pid,ppid,stat,name >/dev/null"},
		Case{Name: "ptree -l", Shell: "ptree -l >/dev/null"},
		Case{Name: "pstree -p", Shell: "pstree -p >/dev/null", Needs: []string{"pstree"}},
		Case{Name: "ps -eo pid,ppid,stat,comm", Shell: "ps -eo pid,ppid,stat,comm >/dev/null", Needs: []string{"ps"}},
		Case{Name: "ps axjf", Shell: "ps axjf >/dev/null", Needs: []string{"ps"}},
	)
	if err != nil {
		return err
	}

	// %cpu over ptree's 0.5 s interval; with a 1 ms interval the same run
	// shows the time beyond the interval (two scans, the sort, output).
	err = b.Compare("sorted by CPU use now, one-shot", 0,
		Case{Name: "ptree --sort -%cpu", Shell: "ptree -o pid,%cpu,rss,cmd --sort -%cpu >/dev/null", Base: true},
		Case{Name: "ptree --sort -%cpu --interval 1ms", Shell: "ptree -o pid,%cpu,rss,cmd --sort -%cpu --interval 1ms >/dev/null"},
		Case{Name: "ptree --top 5", Shell: "ptree --top 5 >/dev/null"},
		Case{Name: "ps --sort -%cpu", Shell: "ps -eo pid,%cpu,rss,cmd --sort -%cpu >/dev/null", Needs: []string{"ps"}},
		Case{Name: "top -b -n 1", Shell: "top -b -n 1 >/dev/null", Needs: []string{"top"}},
	)
	if err != nil {
		return err
	}
	err = b.Compare("listening ports", 0,
		Case{Name: "ptree -o pid,ports", Shell: "ptree -o pid,ports >/dev/null", Base: true},
		Case{Name: "ptree -o pid,ports --state R", Shell: "ptree -o pid,ports --state R >/dev/null"},
		Case{Name: "ss -ltnp", Shell: "ss -ltnp >/dev/null", Needs: []string{"ss"}},
		Case{Name: "ss -ltunp", Shell: "ss -ltunp >/dev/null", Needs: []string{"ss"}},
	)
	if err != nil {
		return err
	}
	if err := benchWatchCPU(b); err != nil {
		return err
	}

	// The floor: reading every /proc/PID/stat once, inside this process.
	var scan []float64
	for i := 0; i < b.Runs; i++ {
		start := time.Now()
		if _, err := proc.All(); err != nil {
			return err
		}
		scan = append(scan, float64(time.Since(start).Microseconds())/1000)
	}
	b.Report("in process", Row{Name: "proc.All (one stat read per process)", Samples: scan, Unit: "ms", Note: "no process start, no output"})
	return nil
}

// startSleepers starts n "sleep 600" processes in one new process group
// and waits until they are all in the process table. stop kills the group
// and reaps every one of them.
func startSleepers(n int) (stop func(), err error) {
	var cmds []*exec.Cmd
	pgid := 0
	stop = func() {
		if pgid != 0 {
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
		for _, c := range cmds {
			c.Wait()
		}
	}
	for i := 0; i < n; i++ {
		c := exec.Command("sleep", "600")
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
		if err := c.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start sleep %d of %d: %w", i+1, n, err)
		}
		if pgid == 0 {
			pgid = c.Process.Pid
		}
		cmds = append(cmds, c)
	}
	// An interrupted bench must not leave 2,000 sleeps behind: they are in
	// their own group, so the terminal's SIGINT does not reach them.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		syscall.Kill(-pgid, syscall.SIGKILL)
		os.Exit(130)
	}()
	// exec.Cmd.Start returns once the child has exec'd, so each is a
	// "sleep" in the table by now; check the last one to be sure.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", cmds[len(cmds)-1].Process.Pid)); err != nil {
		stop()
		return nil, fmt.Errorf("sleepers did not start: %w", err)
	}
	return stop, nil
}

// watchSpan is how long the watchers run: the figure is the CPU
// of "ptree -w 1" over 30 s.
const watchSpan = 30 * time.Second

// benchWatchCPU runs "ptree -w 1" (the tree, and a sorted %cpu list) for
// watchSpan and reports the CPU each used in percent of one core, from its
// own utime and stime.
func benchWatchCPU(b *Bench) error {
	watchers := []struct{ name, args string }{
		{"ptree -w 1", "-w 1"},
		{"ptree -w 1 -o pid,%cpu,rss,cmd --sort -%cpu", "-w 1 -o pid,%cpu,rss,cmd --sort -%cpu"},
	}
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}()
	for _, w := range watchers {
		c := exec.Command("sh", "-c", "exec ptree "+w.args+" >/dev/null")
		if err := c.Start(); err != nil {
			return err
		}
		cmds = append(cmds, c)
	}
	fmt.Printf("\n  (watching for %v)\n", watchSpan)
	time.Sleep(watchSpan)
	clock, err := proc.ReadClock()
	if err != nil {
		return err
	}
	var rows []Row
	for i, c := range cmds {
		s, err := proc.ReadStat(c.Process.Pid)
		if err != nil {
			return fmt.Errorf("%s: %w", watchers[i].name, err)
		}
		used := float64(s.UTime+s.STime) / float64(clock.Hz)
		rows = append(rows, Row{Name: watchers[i].name, Samples: []float64{100 * used / clock.Elapsed(s).Seconds()}, Unit: "% of a core",
			Note: fmt.Sprintf("%.2f s CPU over %.0f s", used, clock.Elapsed(s).Seconds())})
	}
	b.Report("watcher CPU", rows...)
	return nil
}
