package proc

import "os"

// Caller is the tool's parent: darwin offers no way to tell a subshell
// from the shell that forked it (see caller_linux.go).
func Caller() int { return os.Getppid() }
