package cli

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// ArgsOrStdin returns args, or, when there are none and stdin is a pipe or
// a regular file, the non-empty lines of stdin (trimmed). A terminal or
// /dev/null on stdin yields no arguments, so cron jobs do not hang.
func ArgsOrStdin(args []string, stdin *os.File) ([]string, error) {
	if len(args) > 0 || !StdinHasData(stdin) {
		return args, nil
	}
	var out []string
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	return out, nil
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
