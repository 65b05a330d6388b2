package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxLine bounds one line of arguments read from stdin.
const maxLine = 1 << 20

// ArgsOrStdin returns args, or, when there are none and stdin is a pipe or
// a regular file, the non-empty lines of stdin (trimmed). A terminal or
// /dev/null on stdin yields no arguments, so cron jobs do not hang.
func ArgsOrStdin(args []string, stdin *os.File) ([]string, error) {
	if len(args) > 0 || !StdinHasData(stdin) {
		return args, nil
	}
	lines := NewLines(stdin, 1<<16)
	var out []string
	for {
		chunk, err := lines.Next()
		out = append(out, chunk...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Lines reads the non-empty, trimmed lines of a stream in chunks, so that
// a tool fed by a long-running producer acts on what has arrived instead
// of waiting for the end of its input.
type Lines struct {
	br  *bufio.Reader
	max int
}

// NewLines reads r; a chunk holds at most max lines.
func NewLines(r io.Reader, max int) *Lines {
	return &Lines{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next chunk: up to max lines, fewer when nothing more
// is ready to read without waiting. At the end of the input it returns
// the last lines, then nil and io.EOF.
func (l *Lines) Next() ([]string, error) {
	var out []string
	for len(out) < l.max {
		line, err := l.readLine()
		if s := string(bytes.TrimSpace(line)); s != "" {
			out = append(out, s)
		}
		if err == io.EOF && len(out) > 0 {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if len(out) > 0 && l.br.Buffered() == 0 {
			break
		}
	}
	return out, nil
}

// readLine returns one line (with its newline, if any); io.EOF comes
// with the last, unterminated part.
func (l *Lines) readLine() ([]byte, error) {
	line, _, err := ReadLong(l.br, '\n', maxLine)
	if len(line) > maxLine {
		return nil, fmt.Errorf("read stdin: a line is longer than %d bytes", maxLine)
	}
	if err != nil && err != io.EOF {
		return line, fmt.Errorf("read stdin: %w", err)
	}
	return line, err
}

// ReadLong is br.ReadSlice(sep) for records that may be longer than br's
// buffer: such a record is gathered into a new slice (long is true), until
// it ends or has more than max bytes; then err is still
// bufio.ErrBufferFull. A short record aliases br's buffer, as ReadSlice's
// does.
func ReadLong(br *bufio.Reader, sep byte, max int) (rec []byte, long bool, err error) {
	rec, err = br.ReadSlice(sep)
	if !errors.Is(err, bufio.ErrBufferFull) {
		return rec, false, err
	}
	gathered := append([]byte(nil), rec...)
	for errors.Is(err, bufio.ErrBufferFull) && len(gathered) <= max {
		rec, err = br.ReadSlice(sep)
		gathered = append(gathered, rec...)
	}
	return gathered, true, err
}

// StdinHasData reports whether f is a pipe, socket or regular file (rather
// than a terminal or character device such as /dev/null).
func StdinHasData(f *os.File) bool {
	if f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	m := fi.Mode()
	return m&os.ModeNamedPipe != 0 || m&os.ModeSocket != 0 || m.IsRegular()
}
