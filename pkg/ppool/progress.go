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
		p.mu.Lock()
		done, failed, total, running := p.done, p.failed, p.total, len(p.running)
		p.mu.Unlock()
		line := fmt.Sprintf("\rppool: %d/%d done, %d running, %d failed", done, total, running, failed)
		if p.Eta && done > 0 && total > done {
			per := time.Since(p.started) / time.Duration(done)
			line += fmt.Sprintf(", ETA %s", (per * time.Duration(total-done)).Round(time.Second))
		}
		if final {
			line += "\n"
		}
		fmt.Fprint(p.stderr, line+"\x1b[K")
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
