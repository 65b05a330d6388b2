package ppool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
)

// holdLimit bounds the output -k keeps in memory before spilling to a file.
const holdLimit = 64 << 20

// linePipes gives a --line-buffer job a pipe for stdout and one for
// stderr, each copied out line by line as it comes; closePipes closes
// them once the job has ended and waits for the copies.
func (p *Pool) linePipes(j *job) (stdout, stderr *os.File, closePipes func(), err error) {
	var lines sync.WaitGroup
	var pipes []*os.File
	closePipes = func() {
		for _, w := range pipes {
			w.Close()
		}
		lines.Wait()
	}
	for _, dst := range []*os.File{p.stdout, p.stderr} {
		rd, wr, err := os.Pipe()
		if err != nil {
			closePipes()
			return nil, nil, nil, err
		}
		pipes = append(pipes, wr)
		lines.Add(1)
		go func() {
			defer lines.Done()
			p.copyLines(rd, dst, j)
			rd.Close()
		}()
	}
	return pipes[0], pipes[1], closePipes, nil
}

// copyLines prints whole lines from rd as they arrive (--line-buffer).
func (p *Pool) copyLines(rd, dst *os.File, j *job) {
	br := bufio.NewReaderSize(rd, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			p.mu.Lock()
			p.writeTagged(dst, line, j)
			p.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// writeTagged writes b, prefixing each line with the item under --tag.
func (p *Pool) writeTagged(dst io.Writer, b []byte, j *job) {
	if !p.Tag {
		_, _ = dst.Write(b)
		return
	}
	prefix := strings.Join(j.item, "\t") + "\t"
	var buf bytes.Buffer
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) - 1
		}
		buf.WriteString(prefix)
		buf.Write(b[:i+1])
		b = b[i+1:]
	}
	_, _ = dst.Write(buf.Bytes())
}

// outFile is a slot's buffer for its jobs' stdout or stderr: a tempFile
// to which each job appends its output after the last job's, which ends
// at start. Moving start past a job's output is all that empties it for
// the next; the file itself is emptied only once start passes
// outFileReuse, not after every job.
type outFile struct {
	*os.File
	start int64
}

// outFileReuse is how far an output buffer grows before it is emptied.
const outFileReuse = 1 << 20

func newOutFile() (*outFile, error) {
	f, err := tempFile()
	if err != nil {
		return nil, err
	}
	return &outFile{File: f}, nil
}

// size is the length of the output written since start.
func (o *outFile) size() int64 {
	st, err := o.Stat()
	if err != nil {
		return 0
	}
	return st.Size() - o.start
}

// skip moves start past n bytes of output.
func (o *outFile) skip(n int64) {
	o.start += n
	if o.start >= outFileReuse {
		_ = o.Truncate(0)
		o.start = 0
	}
}

// read returns the n bytes of output from start.
func (o *outFile) read(n int64) []byte {
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	_, _ = o.ReadAt(b, o.start)
	return b
}

// copyTo copies the n bytes of output from start to dst and returns the
// bytes copied.
func (o *outFile) copyTo(dst io.Writer, n int64) int64 {
	if n == 0 {
		return 0
	}
	_, _ = o.Seek(o.start, io.SeekStart)
	copied, _ := io.Copy(dst, io.LimitReader(o.File, n))
	return copied
}

// finish records a job: output, joblog, counters and --halt.
func (p *Pool) finish(r *result, out, errOut *outFile) {
	var outLen, errLen int64
	if out != nil {
		outLen, errLen = out.size(), errOut.size()
	}
	r.recv = outLen
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if r.exit != 0 || r.signal != 0 {
		p.failed++
	} else {
		p.succeeded++
	}
	p.writeJoblog(r)
	if out != nil {
		if p.KeepOrder && r.job.seq != p.next || p.JSON || p.Tag {
			p.hold(r, out, errOut, outLen, errLen)
		} else {
			out.copyTo(p.stdout, outLen)
			errOut.copyTo(p.stderr, errLen)
		}
		out.skip(outLen)
		errOut.skip(errLen)
	}
	if p.KeepOrder {
		if _, held := p.pending[r.job.seq]; !held {
			p.pending[r.job.seq] = nil // printed already
		}
		p.flushLocked()
	} else if p.pending[r.job.seq] != nil {
		p.emit(p.pending[r.job.seq])
		delete(p.pending, r.job.seq)
	}
	p.checkHalt(r)
}

// record enters a job that never ran: its joblog line and, in order
// under -k, its --json record. The caller holds p.mu.
func (p *Pool) record(r *result) {
	p.writeJoblog(r)
	if p.JSON {
		if p.KeepOrder {
			p.pending[r.job.seq] = r
		} else {
			p.emit(r)
		}
	}
	if p.KeepOrder {
		if _, held := p.pending[r.job.seq]; !held {
			p.pending[r.job.seq] = nil
		}
		p.flushLocked()
	}
}

// hold keeps a job's output until it can be printed: in memory up to
// holdLimit, in one spill file past it, so -k runs in bounded memory.
func (p *Pool) hold(r *result, out, errOut *outFile, outLen, errLen int64) {
	if p.held+outLen+errLen <= holdLimit || p.JSON {
		r.out = out.read(outLen)
		r.errOut = errOut.read(errLen)
		p.held += outLen + errLen
	} else {
		if p.spill == nil {
			f, err := tempFile()
			if err != nil {
				p.env.Warnf("%v", err)
				return
			}
			p.spill = f
		}
		r.spilled, r.outOff, r.outLen, r.errLen = true, p.spillSize, outLen, errLen
		p.spillSize += out.copyTo(p.spill, outLen)
		p.spillSize += errOut.copyTo(p.spill, errLen)
	}
	p.pending[r.job.seq] = r
}

// flushLocked prints, in order, every held job that is next.
func (p *Pool) flushLocked() {
	for {
		r, ok := p.pending[p.next]
		if !ok {
			return
		}
		delete(p.pending, p.next)
		p.next++
		if r != nil {
			p.emit(r)
		}
	}
}

// flushPending prints what is left at the end (after an interrupt, with gaps).
func (p *Pool) flushPending() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.KeepOrder {
		p.flushLocked()
	}
	for seq := p.next; len(p.pending) > 0; seq++ {
		if r, ok := p.pending[seq]; ok {
			delete(p.pending, seq)
			if r != nil {
				p.emit(r)
			}
		}
	}
	if p.spill != nil {
		p.spill.Close()
	}
}

// emit prints a held job's output or JSON record.
func (p *Pool) emit(r *result) {
	out, errOut := r.out, r.errOut
	if r.spilled {
		out, errOut = make([]byte, r.outLen), make([]byte, r.errLen)
		_, _ = p.spill.ReadAt(out, r.outOff)
		_, _ = p.spill.ReadAt(errOut, r.outOff+r.outLen)
	}
	p.held -= int64(len(r.out) + len(r.errOut))
	if p.JSON {
		rec := jsonRecord{Seq: r.job.seq, Item: strings.Join(r.job.item, "\t"), jobRecord: newJobRecord(r, out, errOut), NotRun: r.notRun}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(rec)
		_, _ = p.stdout.Write(buf.Bytes())
		return
	}
	p.writeTagged(p.stdout, out, r.job)
	p.writeTagged(p.stderr, errOut, r.job)
}

type jsonRecord struct {
	Seq  int    `json:"seq"`
	Item string `json:"item"`
	jobRecord
	NotRun bool `json:"not_run,omitempty"` // a signal stopped ppool before the job started
}

// jobRecord is what --json and --results both tell of a finished job; it
// is embedded, so its fields stand where it does in the JSON object.
type jobRecord struct {
	Args    []string `json:"args"`
	Exit    int      `json:"exit"`
	Signal  *int     `json:"signal"`
	Start   float64  `json:"start"`
	Runtime float64  `json:"runtime"`
	Stdout  string   `json:"stdout"`
	Stderr  string   `json:"stderr"`
}

func newJobRecord(r *result, stdout, stderr []byte) jobRecord {
	rec := jobRecord{
		Args: r.job.argv, Exit: r.exit, Start: float64(r.start.UnixMicro()) / 1e6,
		Runtime: r.runtime.Seconds(), Stdout: string(stdout), Stderr: string(stderr),
	}
	if r.signal != 0 {
		rec.Signal = &r.signal
	}
	return rec
}
