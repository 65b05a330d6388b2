package ptree

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// branches are the strings a tree is drawn with.
type branches struct{ tee, elbow, bar, blank string }

var (
	boxBranches   = branches{"├─", "└─", "│ ", "  "}
	asciiBranches = branches{"|-", "`-", "| ", "  "}
)

// printer writes one scan of the table in the chosen form.
type printer struct {
	w        *bufio.Writer
	t        *table
	sel      *selection
	branches branches
	color    bool
	long     bool
	threads  bool
	isNew    func(*node) bool     // in --watch on a terminal: drawn in bold
	order    func(a, b *node) int // --sort; nil: by PID
	values   []field              // shown after the state in the tree: the sort keys
	stamp    string               // "time" of each object of a --json --watch frame
}

// tree draws the subtrees under roots, one process a line:
// "name(pid) STAT", with threads as "{name}(tid) STAT" before the children.
func (p *printer) tree(roots []*node) {
	shown := p.sel.shown(p.t, roots)
	if p.order != nil {
		roots = slices.Clone(roots)
		slices.SortStableFunc(roots, p.order)
	}
	for _, r := range roots {
		if shown[r] {
			p.processLine("", r)
			p.subtree(r, "", shown, r.IsKernelThread())
		}
	}
}

func (p *printer) subtree(n *node, indent string, shown map[*node]bool, inKernel bool) {
	var threads []proc.Stat
	if p.threads && n.NumThreads > 1 {
		all, _ := proc.Threads(n.PID) // a process gone since the scan has none
		for _, th := range all {
			if th.PID != n.PID {
				threads = append(threads, th)
			}
		}
	}
	var kids []*node
	for _, c := range p.sel.visibleChildren(n, inKernel) {
		if shown[c] {
			kids = append(kids, c)
		}
	}
	if p.order != nil {
		slices.SortStableFunc(kids, p.order)
	}
	total := len(threads) + len(kids)
	for i, th := range threads {
		branch := p.branch(i == total-1)
		fmt.Fprintf(p.w, "%s%s{%s}(%d) %s\n", indent, branch, printable(th.Comm), th.PID, p.paint(th.Code()))
	}
	for i, c := range kids {
		last := len(threads)+i == total-1
		p.processLine(indent+p.branch(last), c)
		next := indent + p.branches.bar
		if last {
			next = indent + p.branches.blank
		}
		p.subtree(c, next, shown, inKernel)
	}
}

func (p *printer) branch(last bool) string {
	if last {
		return p.branches.elbow
	}
	return p.branches.tee
}

func (p *printer) processLine(prefix string, n *node) {
	p.w.WriteString(prefix)
	if p.isNew != nil && p.isNew(n) {
		p.w.WriteString("\x1b[1m" + printable(n.Comm) + "\x1b[0m")
	} else {
		p.w.WriteString(printable(n.Comm))
	}
	p.w.WriteByte('(')
	p.w.WriteString(strconv.Itoa(n.PID))
	p.w.WriteString(") ")
	p.w.WriteString(p.paint(n.Code()))
	for _, f := range p.values {
		p.w.WriteString(" " + f.name + "=" + f.text(p.t, n))
	}
	if p.long {
		fmt.Fprintf(p.w, " %s %s %.1f%% %s %s", p.t.User(n), humanKiB(n.RSS*pageKiB), p.t.clock.CPUPercent(n.Stat), shortTime(p.t.clock.Started(n.Stat), p.t.clock.Now), p.t.Cmd(n))
	}
	p.w.WriteByte('\n')
}

// paint colours the state letter of code when colour is on.
func (p *printer) paint(code string) string {
	if !p.color {
		return code
	}
	c := stateColor(code[0])
	if c == "" {
		return code
	}
	return "\x1b[" + c + "m" + code[:1] + "\x1b[0m" + code[1:]
}

// flat writes the columns of each process, tab-separated, one a line.
func (p *printer) flat(nodes []*node, cols []field, header bool) {
	if header {
		names := make([]string, len(cols))
		for i, f := range cols {
			names[i] = strings.ToUpper(f.name)
		}
		p.w.WriteString(strings.Join(names, "\t") + "\n")
	}
	for _, n := range nodes {
		for i, f := range cols {
			if i > 0 {
				p.w.WriteByte('\t')
			}
			p.w.WriteString(f.text(p.t, n))
		}
		p.w.WriteByte('\n')
	}
}

// json writes one JSON object per process with the given keys in order.
func (p *printer) json(nodes []*node, cols []field) error {
	for _, n := range nodes {
		kv := make([]keyValue, 0, len(cols)+1)
		if p.stamp != "" {
			kv = append(kv, keyValue{"time", p.stamp})
		}
		for _, f := range cols {
			kv = append(kv, keyValue{f.jsonKey(), f.json(p.t, n)})
		}
		if err := writeObject(p.w, kv); err != nil {
			return err
		}
	}
	return nil
}

// count writes how many of nodes are in each state, in the kernel's order.
func (p *printer) count(nodes []*node, asJSON bool) error {
	tally := map[byte]int{}
	for _, n := range nodes {
		tally[n.State]++
	}
	for _, s := range proc.States {
		if tally[s.Letter] == 0 {
			continue
		}
		if asJSON {
			if err := writeObject(p.w, []keyValue{{"state", string(s.Letter)}, {"name", s.Name}, {"count", tally[s.Letter]}}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(p.w, "%s\t%d\t%s\n", p.paint(string(s.Letter)), tally[s.Letter], s.Name)
		}
		delete(tally, s.Letter)
	}
	for letter, c := range tally { // letters newer than this program
		if asJSON {
			if err := writeObject(p.w, []keyValue{{"state", string(letter)}, {"name", "unknown"}, {"count", c}}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(p.w, "%c\t%d\tunknown\n", letter, c)
		}
	}
	if !asJSON {
		fmt.Fprintf(p.w, "total\t%d\n", len(nodes))
	}
	return nil
}

type keyValue struct {
	key   string
	value any
}

// writeObject writes kv as one JSON object on a line, keys in the order
// given (encoding/json would sort a map's keys) and without HTML escaping,
// so a state "S<" stays readable.
func writeObject(w *bufio.Writer, kv []keyValue) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	w.WriteByte('{')
	for i, e := range kv {
		if i > 0 {
			w.WriteByte(',')
		}
		buf.Reset()
		if err := enc.Encode(e.value); err != nil {
			return fmt.Errorf("encode %s: %w", e.key, err)
		}
		w.WriteString(strconv.Quote(e.key))
		w.WriteByte(':')
		w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	_, err := w.WriteString("}\n")
	return err
}

// humanKiB formats a size in KiB as ps-like short text: 812K, 4.1M, 2.0G.
func humanKiB(kib int64) string {
	switch {
	case kib < 1024:
		return strconv.FormatInt(kib, 10) + "K"
	case kib < 1024*1024:
		return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + "M"
	}
	return strconv.FormatFloat(float64(kib)/(1024*1024), 'f', 1, 64) + "G"
}

// shortTime formats a start time as ps(1) STIME does: HH:MM today,
// otherwise Jan02 within the year, otherwise the year.
func shortTime(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	switch {
	case t.YearDay() == now.YearDay() && t.Year() == now.Year():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("Jan02")
	}
	return t.Format("2006")
}

// shortDuration formats d compactly: 850ms, 4.2s, 3m04s, 2h05m, 3d04h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
