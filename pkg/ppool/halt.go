package ppool

// checkHalt applies --halt after a job ends.
func (p *Pool) checkHalt(r *result) {
	h := p.Halt
	if h.Never || p.halted {
		return
	}
	count := map[string]int{"fail": p.failed, "success": p.succeeded, "done": p.done}[h.What]
	hit := count >= h.N && h.N > 0
	if h.Pct > 0 {
		hit = float64(count)*100 >= h.Pct*float64(max(p.total, p.done))
	}
	if h.What == "fail" && r.exit == 0 && r.signal == 0 || h.What == "success" && (r.exit != 0 || r.signal != 0) {
		hit = false
	}
	if !hit {
		return
	}
	p.halted = true
	if h.What == "fail" {
		p.haltCode = max(r.exit, 1)
	}
	p.stop()
	if h.Now {
		go p.groups.Stop()
	}
}
