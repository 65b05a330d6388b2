package ppool

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// openJoblog reads it for --resume and opens it for writing.
func (p *Pool) openJoblog() error {
	if p.Joblog == "" {
		return nil
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if p.Resume || p.ResumeFail {
		p.skip = map[int]bool{}
		if b, err := os.ReadFile(p.Joblog); err == nil {
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Split(line, "\t")
				if len(f) < 9 {
					continue
				}
				seq, err := strconv.Atoi(f[0])
				if err != nil {
					continue
				}
				if f[6] == "-1" {
					continue // not run: a signal stopped ppool first
				}
				ok := f[6] == "0" && f[7] == "0"
				if p.Resume || ok {
					p.skip[seq] = true
				}
			}
			flags = os.O_WRONLY | os.O_APPEND
		}
	}
	f, err := os.OpenFile(p.Joblog, flags, 0o644)
	if err != nil {
		return fmt.Errorf("joblog: %w", err)
	}
	p.joblog = f
	if flags&os.O_TRUNC != 0 {
		_, err = f.WriteString("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n")
	}
	return err
}

func (p *Pool) writeJoblog(r *result) {
	if p.joblog == nil {
		return
	}
	fmt.Fprintf(p.joblog, "%d\t:\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t%s\n", r.job.seq,
		float64(r.start.UnixMilli())/1e3, r.runtime.Seconds(), r.sent, r.recv, r.exit, r.signal, shellQuote(r.job.argv))
}

// dryRun prints each command line instead of running it.
func (p *Pool) dryRun(items *Items, all []*job) error {
	w := bufio.NewWriter(p.stdout)
	defer w.Flush()
	for {
		j, err := p.take(items, all)
		if j == nil || err != nil {
			return err
		}
		fmt.Fprintln(w, shellQuote(p.argv(j, 1)))
	}
}
