package cli

import "os"

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return f != nil && isTerminal(int(f.Fd())) }

// Color reports whether output to f may be coloured: f is a terminal,
// NO_COLOR is unset or empty, and TERM is not "dumb".
func Color(f *os.File) bool {
	return IsTerminal(f) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}
