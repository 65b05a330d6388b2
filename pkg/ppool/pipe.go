package ppool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pkit-sh/pkit/pkg/cli"
	"golang.org/x/sys/unix"
)

// PipeFlags are the flags of pipe mode (--pipe, --pipepart): the input is
// cut into blocks of whole records, one block on each job's stdin.
type PipeFlags struct {
	Pipe     bool    `group:"Pipe mode" help:"Cut stdin into blocks of whole records and feed each block to a job's stdin."`
	Pipepart bool    `group:"Pipe mode" help:"Like --pipe for the file of -a FILE: each job reads its byte range, which ppool never reads through itself."`
	Block    string  `group:"Pipe mode" default:"1M" placeholder:"SIZE" help:"Block size: bytes (K, M, G suffixes); with --pipepart -N (--block=-N) for N blocks per job slot."`
	Recend   *string `group:"Pipe mode" placeholder:"STR" help:"Records end with STR (\\n, \\t, \\0, \\\\ escapes) (default: \\n, or empty with --recstart alone)."`
	Recstart *string `group:"Pipe mode" placeholder:"STR" help:"Records start with STR (default: empty)."`
	Regexp   bool    `group:"Pipe mode" help:"--recend and --recstart are regular expressions."`
	Header   int     `group:"Pipe mode" placeholder:"N" help:"Repeat the first N lines of the input before every block (default: 0)."`
	// RoundRobin implies --pipe unless --pipepart is given, as in parallel.
	RoundRobin bool `name:"round-robin" group:"Pipe mode" help:"Start -j jobs in all and deal the blocks to whichever is ready to read (no process per block); the header once each."`
}

func (f *PipeFlags) on() bool { return f.Pipe || f.Pipepart || f.RoundRobin }

// pipeIn is one job's stdin in pipe mode: the header, then either a block
// read by ppool (data) or a byte range of the --pipepart file, then with
// --round-robin the blocks it takes from deal.
type pipeIn struct {
	header []byte
	data   []byte
	file   *os.File
	off, n int64
	free   chan<- []byte // takes data back for the next block
	deal   *dealer
	dealt  atomic.Int64 // --round-robin: the bytes of the blocks taken from deal
}

// release gives the block's memory back once its job is done for good:
// fresh memory costs a page fault a page, more than the copy into it.
// Only the first call does.
func (in *pipeIn) release() {
	if in.free == nil {
		return
	}
	select {
	case in.free <- in.data[:0]:
	default:
	}
	in.free = nil
}

// size is what the job is sent: its header and block, and with
// --round-robin the blocks it has taken so far.
func (in *pipeIn) size() int64 { return int64(len(in.header)) + in.blockSize() + in.dealt.Load() }

func (in *pipeIn) blockSize() int64 { return int64(len(in.data)) + in.n }

// feed writes a job's stdin in pipe mode to ppool's end of a pipe: the
// header, the job's block, and with --round-robin the blocks it takes from
// deal after that. It never blocks: the job's worker calls send whenever
// the pipe has room, while it waits for the job (await), so no goroutine
// stands between the job and its input. What the job has not read when it
// ends is dropped.
type feed struct {
	wr         int // ppool's end, non-blocking; -1 once closed
	in         *pipeIn
	header     []byte  // still to send
	block      *pipeIn // the block being sent
	done       int64   // its bytes sent
	copied     bool    // --round-robin: a block's memory is reused as soon as it is written, maybe before the job read it: write copies
	copyRanges bool    // the file refuses splice: ranges are copied
	unread     []byte  // of a range copied: read, not yet sent
	fed        *atomic.Int64
}

// newFeed makes the pipe for in: rd is the child's end, blocking as a
// program expects of its stdin, for the caller to close once the child
// has started.
func newFeed(in *pipeIn, fed *atomic.Int64) (f *feed, rd int, err error) {
	rd, wr, err := pipe()
	if err == nil {
		if err = unix.SetNonblock(wr, true); err != nil {
			unix.Close(rd)
			unix.Close(wr)
		}
	}
	if err != nil {
		return nil, -1, fmt.Errorf("stdin pipe: %w", err)
	}
	growPipe(wr, max(in.size(), int64(len(in.header))+in.deal.blockSize()))
	return &feed{wr: wr, in: in, header: in.header, block: in, copied: in.deal != nil, fed: fed}, rd, nil
}

// open reports whether f has more to send.
func (f *feed) open() bool { return f != nil && f.wr >= 0 }

// close ends the feed: the job reads the end of its input.
func (f *feed) close() {
	if f.open() {
		unix.Close(f.wr)
		f.wr = -1
	}
}

// send writes what the pipe takes now. It closes the feed once all is
// sent, or when the job stopped reading (its exit tells).
func (f *feed) send() {
	for f.open() {
		_, err := f.move()
		switch {
		case errors.Is(err, unix.EAGAIN): // the pipe is full
			return
		case err != nil && !errors.Is(err, unix.EINTR):
			f.close()
		}
	}
}

// move writes the next bytes; io.EOF once all are sent.
func (f *feed) move() (int, error) {
	if len(f.header) > 0 {
		k, err := unix.Write(f.wr, f.header)
		f.header = f.header[max(k, 0):]
		return k, err
	}
	if f.block != nil && f.done == f.block.blockSize() {
		f.fed.Add(f.done)
		if f.copied {
			f.block.release() // no retry feeds it again: --round-robin has none
		}
		f.block, f.done = nil, 0
	}
	if f.block == nil {
		if f.in.deal == nil {
			return 0, io.EOF
		}
		b, err := f.in.deal.take()
		if err != nil {
			return 0, io.EOF // the input ended, or failed: the dealer tells
		}
		f.in.dealt.Add(b.blockSize())
		f.block = b
	}
	b := f.block
	k, err := 0, error(nil)
	switch {
	case b.file != nil && !f.copyRanges:
		k, err = spliceRange(f.wr, b.file, b.off+f.done, int(min(b.n-f.done, 1<<20)))
		if errors.Is(err, errors.ErrUnsupported) {
			f.copyRanges = true
			return 0, nil
		}
	case b.file != nil:
		k, err = f.copyRange(b)
	case f.copied:
		k, err = unix.Write(f.wr, b.data[f.done:])
	default:
		k, err = spliceData(f.wr, b.data[f.done:])
	}
	if err == nil && k == 0 {
		return 0, io.ErrUnexpectedEOF // the file shrank
	}
	f.done += int64(max(k, 0))
	return k, err
}

// copyRange writes the next bytes of b's range by copy, reading 64 KiB at
// a time.
func (f *feed) copyRange(b *pipeIn) (int, error) {
	if len(f.unread) == 0 {
		buf := make([]byte, min(b.n-f.done, 64<<10))
		k, err := b.file.ReadAt(buf, b.off+f.done)
		if k == 0 {
			return 0, err
		}
		f.unread = buf[:k]
	}
	k, err := unix.Write(f.wr, f.unread)
	f.unread = f.unread[max(k, 0):]
	return k, err
}

// blockInput is the input of pipe mode (a *blockSource, *partSource or
// *dealer): each item Next gives stands for the stdin of a job, which
// lastBlock returns.
type blockInput interface {
	Source
	lastBlock() *pipeIn
	maxBlock() int64 // the most a block holds
}

// dealer deals the blocks of a source to -j long-lived jobs
// (--round-robin). Its items are the job numbers: the first -j blocks
// start -j jobs, so fewer blocks start fewer jobs and empty input none.
// Each job's feed then takes the next block once it has written the last,
// so a block goes to whichever job is ready to read it; a job that stops
// reading takes no more.
type dealer struct {
	mu    sync.Mutex
	src   blockInput // a *blockSource or *partSource
	max   int        // -j
	n     int        // jobs started
	err   error      // the input failed: every take returns it
	last  *pipeIn
	ahead *pipeIn // the block of the next job to start, read ahead
}

// take reads the next block, or io.EOF at the end of the input.
func (d *dealer) take() (*pipeIn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	if _, err := d.src.Next(); err != nil {
		d.err = err
		return nil, err
	}
	return d.src.lastBlock(), nil
}

func (d *dealer) Next() (string, error) {
	if d.n == d.max {
		return "", io.EOF
	}
	b := d.ahead
	if b == nil {
		var err error
		if b, err = d.take(); err != nil {
			return "", err
		}
	}
	d.n++
	// The next job's block is read before this job starts: the jobs
	// running would take it first otherwise, and input of -j blocks or
	// more could start fewer than -j jobs. An error or the end is kept
	// for the next take.
	d.ahead = nil
	if d.n < d.max {
		d.ahead, _ = d.take()
	}
	b.deal = d
	d.last = b
	return strconv.Itoa(d.n), nil
}

// failed is the error that ended the input, if it was not its end.
func (d *dealer) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if errors.Is(d.err, io.EOF) {
		return nil
	}
	return d.err
}

// blockSize is the most a block of the dealer's source holds, 0 without
// a dealer (the pipe is sized for the job's own block).
func (d *dealer) blockSize() int64 {
	if d == nil {
		return 0
	}
	return d.src.maxBlock()
}

func (d *dealer) lastBlock() *pipeIn { return d.last }
func (d *dealer) maxBlock() int64    { return d.src.maxBlock() }

// records finds the boundaries between records: a place preceded by the
// record end and followed by the record start. Position 0 is never one.
type records struct {
	pat    []byte // end + start, literal
	endLen int
	re     *regexp.Regexp // --regexp: (end)(start)
}

func newRecords(f *PipeFlags, null bool) (*records, error) {
	end, start := "\n", ""
	if null {
		end = "\x00"
	}
	if f.Recstart != nil {
		start = *f.Recstart
		if f.Recend == nil && !null {
			end = ""
		}
	}
	if f.Recend != nil {
		end = *f.Recend
	}
	if f.Regexp {
		re, err := regexp.Compile("(?s)(" + end + ")(" + start + ")")
		if err != nil {
			return nil, cli.Usagef("--recend/--recstart: %v", err)
		}
		if re.MatchString("") {
			return nil, cli.Usagef("--recend/--recstart: the regular expressions match the empty string")
		}
		return &records{re: re}, nil
	}
	end, start = unescape(end), unescape(start)
	if end+start == "" {
		return nil, cli.Usagef("--recend and --recstart are both empty")
	}
	return &records{pat: []byte(end + start), endLen: len(end)}, nil
}

// unescape reads the escapes \n \t \r \0 and \\ in a literal separator.
func unescape(s string) string {
	return strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r", `\0`, "\x00", `\\`, `\`).Replace(s)
}

// last is the last boundary in b at or before upto, or -1. It looks at
// the bytes after upto too, where a record start may lie.
func (rs *records) last(b []byte, upto int) int {
	if rs.re != nil {
		found := -1
		for _, m := range rs.re.FindAllSubmatchIndex(b[:min(len(b), upto+rs.lookahead())], -1) {
			if at := m[3]; at > 0 && at <= upto {
				found = at
			} else if at > upto {
				break
			}
		}
		return found
	}
	lim := min(len(b), upto+len(rs.pat)-rs.endLen)
	for lim > 0 {
		i := bytes.LastIndex(b[:lim], rs.pat)
		if i < 0 {
			return -1
		}
		if at := i + rs.endLen; at > 0 {
			return at
		}
		lim = i + len(rs.pat) - 1
	}
	return -1
}

// next is the first boundary in b after from, or -1.
func (rs *records) next(b []byte, from int) int {
	if rs.re != nil {
		for _, m := range rs.re.FindAllSubmatchIndex(b, -1) {
			if m[3] > from {
				return m[3]
			}
		}
		return -1
	}
	s := max(0, from+1-rs.endLen)
	for {
		i := bytes.Index(b[s:], rs.pat)
		if i < 0 {
			return -1
		}
		if at := s + i + rs.endLen; at > from {
			return at
		}
		s += i + 1
	}
}

// lookahead is how far past a cut --regexp looks for a record start.
func (rs *records) lookahead() int {
	if rs.re != nil {
		return 64 << 10
	}
	return len(rs.pat) - rs.endLen
}

// cut is where the block that starts b ends: the last boundary within
// size bytes, or else the first after it (a longer record goes whole
// into its block); -1 if b holds none and more input may bring one.
func (rs *records) cut(b []byte, size int, eof bool) int {
	if eof && len(b) <= size {
		return len(b)
	}
	if at := rs.last(b, size); at > 0 && (eof || len(b) > size+rs.lookahead()) {
		return at
	}
	if at := rs.next(b, size); at > 0 {
		return at
	}
	if eof {
		return len(b)
	}
	return -1
}

// readHeader reads the first n lines of r.
func readHeader(r io.Reader, n int) (header []byte, rest []byte, err error) {
	var buf []byte
	chunk := make([]byte, 64<<10)
	for {
		lines, i := 0, 0
		for ; lines < n && i < len(buf); i++ {
			if buf[i] == '\n' {
				lines++
			}
		}
		if lines == n {
			return buf[:i], buf[i:], nil
		}
		k, err := r.Read(chunk)
		buf = append(buf, chunk[:k]...)
		if errors.Is(err, io.EOF) {
			return buf, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read input: %w", err)
		}
	}
}

// blockSource cuts a stream into blocks (--pipe). Its items are the block
// numbers; block gives the last block read.
type blockSource struct {
	r      io.Reader
	rs     *records
	size   int
	header []byte
	carry  []byte // read past the last cut
	eof    bool
	n      int
	last   *pipeIn
	free   chan []byte // blocks whose jobs are done
}

func (s *blockSource) lastBlock() *pipeIn { return s.last }
func (s *blockSource) maxBlock() int64    { return int64(s.size) }

func (s *blockSource) Next() (string, error) {
	var buf []byte
	select {
	case buf = <-s.free:
	default:
		buf = make([]byte, 0, s.size+s.rs.lookahead()+4096)
	}
	buf = append(buf, s.carry...)
	s.carry = nil
	for {
		at := -1
		if len(buf) > 0 && (s.eof || len(buf) > s.size+s.rs.lookahead()) {
			at = s.rs.cut(buf, s.size, s.eof)
		}
		if at > 0 {
			s.carry = append(s.carry[:0:0], buf[at:]...)
			s.n++
			s.last = &pipeIn{header: s.header, data: buf[:at], free: s.free}
			return strconv.Itoa(s.n), nil
		}
		if s.eof {
			return "", io.EOF
		}
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		k, err := s.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if errors.Is(err, io.EOF) {
			s.eof = true
		} else if err != nil {
			return "", fmt.Errorf("read input: %w", err)
		}
	}
}

// partSource cuts a file into byte ranges at record boundaries
// (--pipepart), reading only around each cut.
type partSource struct {
	f      *os.File
	rs     *records
	size   int64
	header []byte
	off    int64 // the next range starts here
	end    int64
	n      int
	last   *pipeIn
	buf    []byte // read's, reused
	// stream: f stands in for a stream (--pipe): its offset follows the
	// ranges cut, as if they were read, and a file grown meanwhile is cut
	// to its new end.
	stream bool
}

// steady: a file's ranges are at hand.
func (s *partSource) steady() bool { return true }

func (s *partSource) lastBlock() *pipeIn { return s.last }
func (s *partSource) maxBlock() int64    { return s.size }

func (s *partSource) Next() (string, error) {
	if s.off >= s.end && s.stream {
		if st, err := s.f.Stat(); err == nil {
			s.end = max(s.end, st.Size())
		}
	}
	if s.off >= s.end {
		return "", io.EOF
	}
	at, err := s.cutAt()
	if err != nil {
		return "", err
	}
	s.n++
	s.last = &pipeIn{header: s.header, file: s.f, off: s.off, n: at - s.off}
	s.off = at
	if err := s.seek(); err != nil {
		return "", err
	}
	return strconv.Itoa(s.n), nil
}

// seek moves a stream's offset to the next range: a job that ppool stops
// early leaves the rest of the input to the next reader of the file.
func (s *partSource) seek() error {
	if !s.stream {
		return nil
	}
	if _, err := s.f.Seek(s.off, io.SeekStart); err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	return nil
}

// cutAt finds where the range from s.off ends, as --pipe would cut it:
// the last boundary within size bytes, searched backwards from the cut
// in growing windows, or else the first after it.
func (s *partSource) cutAt() (int64, error) {
	if s.off+s.size >= s.end {
		return s.end, nil
	}
	cut := s.off + s.size
	look := int64(s.rs.lookahead())
	for w := int64(4 << 10); ; w *= 2 {
		from := max(s.off, cut-w)
		b, err := s.read(from, min(s.end, cut+look))
		if err != nil {
			return 0, err
		}
		if at := s.rs.last(b, int(cut-from)); at > 0 {
			return from + int64(at), nil
		}
		if from == s.off {
			break
		}
	}
	for w := int64(64 << 10); ; w *= 2 {
		from, to := max(s.off, cut-64<<10), min(s.end, cut+w)
		b, err := s.read(from, to)
		if err != nil {
			return 0, err
		}
		if at := s.rs.next(b, int(cut-from)); at > 0 {
			return from + int64(at), nil
		}
		if to == s.end {
			return s.end, nil
		}
	}
}

func (s *partSource) read(from, to int64) ([]byte, error) {
	if int64(cap(s.buf)) < to-from {
		s.buf = make([]byte, to-from)
	}
	b := s.buf[:to-from]
	if _, err := s.f.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", s.f.Name(), err)
	}
	return b, nil
}

// pipeIn is the stdin of the job for the item Next returned last.
func (it *Items) pipeIn() *pipeIn {
	if s, ok := it.single.(blockInput); ok {
		return s.lastBlock()
	}
	return nil
}

// parseBlock reads --block: a size, or with --pipepart -N for N blocks
// per job slot (returned negative).
func parseBlock(s string, part bool) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	n, err := parseSize(strings.TrimPrefix(s, "-"))
	if err != nil || n < 1 || neg && !part {
		return 0, cli.Usagef("--block %q: want a size like 1M or 500K (or -N with --pipepart)", s)
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

// pipeSource is the source of blocks for --pipe (stdin or the one -a
// FILE) or of byte ranges for --pipepart (the one -a FILE), dealt to -j
// jobs with --round-robin, and the bytes its blocks hold when that is
// known (a regular file), else 0.
func (c *CLI) pipeSource(env *cli.Env) (Source, int64, error) {
	f := &c.PipeFlags
	if f.Pipe && f.Pipepart {
		return nil, 0, cli.Usagef("--pipe and --pipepart exclude each other")
	}
	if len(c.ArgFile) > 1 || f.Pipepart && len(c.ArgFile) != 1 {
		return nil, 0, cli.Usagef("--pipepart needs one -a FILE, --pipe at most one")
	}
	if f.Header < 0 {
		return nil, 0, cli.Usagef("--header %d: want N >= 0 lines", f.Header)
	}
	size, err := parseBlock(f.Block, f.Pipepart)
	if err != nil {
		return nil, 0, err
	}
	rs, err := newRecords(f, c.Null)
	if err != nil {
		return nil, 0, err
	}
	jobs, err := parseJobs(c.Jobs)
	if err != nil {
		return nil, 0, err
	}
	if f.RoundRobin && jobs == 0 {
		return nil, 0, cli.Usagef("--round-robin starts -j jobs in all: want -j N >= 1")
	}
	if f.RoundRobin && c.Retries > 1 {
		return nil, 0, cli.Usagef("--retries: a --round-robin job's blocks are not kept to run it again")
	}
	src, total, err := c.blocks(env, f, rs, size, jobs)
	if err != nil {
		return nil, 0, err
	}
	if c.Eta && total == 0 {
		return nil, 0, cli.Usagef("--eta needs the size of the input: a regular file (-a FILE, --pipepart, or stdin redirected from one)")
	}
	if f.RoundRobin {
		src = &dealer{src: src, max: jobs}
	}
	return src, total, nil
}

// blocks opens the input of --pipe or --pipepart. --pipe on a regular
// file (stdin redirected from one, or -a FILE) cuts it as --pipepart does,
// from its offset on, unless --regexp is given: a regular expression may
// match otherwise in a window around a cut than in the stream read so far.
func (c *CLI) blocks(env *cli.Env, f *PipeFlags, rs *records, size int64, jobs int) (blockInput, int64, error) {
	if !f.Pipepart {
		r := env.Stdin
		if len(c.ArgFile) == 1 {
			file, err := os.Open(c.ArgFile[0])
			if err != nil {
				return nil, 0, cli.Exit(cli.ExitUsage, fmt.Errorf("input file: %w", err))
			}
			r = file // read to its end, closed at exit
		}
		off, end := seekable(r)
		if off < end && !f.Regexp && readsAt(r, off) {
			s, err := newPartSource(r, off, end, rs, size, f.Header, jobs)
			if err != nil {
				return nil, 0, err
			}
			s.stream = true
			if err := s.seek(); err != nil { // past the header
				return nil, 0, err
			}
			return s, s.end - s.off, nil
		}
		// A pipe that holds a block lets its writer run a block ahead
		// and ppool read a block at a time, not 64 KiB (cat f | ppool
		// --pipe -j2 wc -l: 14000 context switches down to 5900).
		if rc, err := r.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { growPipe(int(fd), size) })
		}
		header, rest, err := readHeader(r, f.Header)
		if err != nil {
			return nil, 0, err
		}
		free := make(chan []byte, max(jobs, 1)+1)
		return &blockSource{r: r, rs: rs, size: int(size), header: header, carry: rest, free: free}, max(end-off-int64(len(header)), 0), nil
	}
	file, err := os.Open(c.ArgFile[0])
	if err != nil {
		return nil, 0, cli.Exit(cli.ExitUsage, fmt.Errorf("input file: %w", err))
	}
	st, err := file.Stat()
	if err != nil || !st.Mode().IsRegular() {
		file.Close()
		return nil, 0, cli.Usagef("--pipepart: %s is not a regular file (use --pipe)", c.ArgFile[0])
	}
	s, err := newPartSource(file, 0, st.Size(), rs, size, f.Header, jobs)
	if err != nil {
		file.Close()
		return nil, 0, err
	}
	return s, s.end - s.off, nil
}

// newPartSource cuts the bytes of file from off to end, after the first
// header lines, into blocks of size bytes or, size being -N, N blocks per
// job slot.
func newPartSource(file *os.File, off, end int64, rs *records, size int64, header, jobs int) (*partSource, error) {
	head, _, err := readHeader(io.NewSectionReader(file, off, end-off), header)
	if err != nil {
		return nil, err
	}
	s := &partSource{f: file, rs: rs, header: head, off: off + int64(len(head)), end: end, size: size}
	if size < 0 {
		k := -size * int64(max(jobs, 1))
		s.size = max(1, (s.end-s.off+k-1)/k)
	}
	return s, nil
}

// readsAt reports whether a byte of r can be read at off (r may be open
// for writing only: the stream path reports it).
func readsAt(r *os.File, off int64) bool {
	_, err := r.ReadAt(make([]byte, 1), off)
	return err == nil
}

// seekable is r's offset and size when r is a regular file whose offset
// can be read, else 0, 0 (the size is not known).
func seekable(r *os.File) (off, end int64) {
	st, err := r.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return 0, 0
	}
	off, err = r.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, 0
	}
	return off, st.Size()
}
