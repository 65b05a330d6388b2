package ppool

import (
	"fmt"
	"time"
)

// showProgress redraws a status line on stderr until stopped.
func (p *Pool) showProgress() func() {
	quit := make(chan struct{})
	finished := make(chan struct{})
	draw := func(final bool) {
		p.runMu.Lock()
		running := len(p.running)
		p.runMu.Unlock()
		p.mu.Lock()
		st := progress{done: p.done, total: p.total, running: running, failed: p.failed,
			elapsed: time.Since(p.started), eta: p.Eta, pipe: p.PipeMode, size: p.InputSize}
		p.mu.Unlock()
		st.fed = p.fed.Load()
		line := "\r" + st.line() + "\x1b[K" // erase what a longer line left
		if final {
			line += "\n"
		}
		fmt.Fprint(p.stderr, line)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				draw(true)
				return
			case <-t.C:
				draw(false)
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// progress is what the status line tells.
type progress struct {
	done, total, running, failed int
	elapsed                      time.Duration
	eta                          bool
	pipe                         bool  // pipe mode: by bytes
	fed, size                    int64 // pipe mode: bytes of blocks written to jobs, of the input (0: unknown)
}

// line is the status line: jobs done of those read so far, or in pipe
// mode the bytes fed of the input's and the jobs done; with --eta the
// time left, estimated from the pace so far.
func (st progress) line() string {
	var s string
	left := -1.0 // the fraction of the work left
	if st.pipe {
		s = "ppool: " + bytesText(st.fed)
		if st.size > 0 {
			s += "/" + bytesText(st.size)
			if st.fed > 0 {
				left = float64(st.size-st.fed) / float64(st.fed)
			}
		}
		s += fmt.Sprintf(" fed, %d done", st.done)
	} else {
		s = fmt.Sprintf("ppool: %d/%d done", st.done, st.total)
		if st.done > 0 {
			left = float64(st.total-st.done) / float64(st.done)
		}
	}
	s += fmt.Sprintf(", %d running, %d failed", st.running, st.failed)
	if st.eta && left > 0 {
		s += fmt.Sprintf(", ETA %s", time.Duration(float64(st.elapsed)*left).Round(time.Second))
	}
	return s
}

// bytesText writes n in B, KiB, MiB, GiB or TiB, three digits or so.
func bytesText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for v >= 1024 && unit < 3 {
		v, unit = v/1024, unit+1
	}
	prec := 1
	if v >= 100 {
		prec = 0
	}
	return fmt.Sprintf("%.*f %s", prec, v, []string{"KiB", "MiB", "GiB", "TiB"}[unit])
}
