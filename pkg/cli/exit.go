package cli

import "fmt"

// Exit statuses shared by every tool.
const (
	ExitOK         = 0   // success
	ExitFail       = 1   // a negative answer or a failed operation
	ExitUsage      = 2   // usage error or bad input
	ExitTimeout    = 124 // a --timeout expired, as in timeout(1)
	ExitLeaseLost  = 125 // a lease could not be renewed: its command was terminated
	ExitNotExec    = 126 // command found but not executable
	ExitNotFound   = 127 // command (or process) not found
	ExitSignalBase = 128 // 128+N: terminated by signal N
)

// ExitError is an error that carries the exit status it stands for. With a
// nil Err the status is returned silently (the tool already said enough).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit wraps err with an exit status. Exit(code, nil) exits silently.
func Exit(code int, err error) error { return &ExitError{Code: code, Err: err} }

// Exitf returns an ExitError with a formatted message.
func Exitf(code int, format string, a ...any) error {
	return &ExitError{Code: code, Err: fmt.Errorf(format, a...)}
}

// Usagef reports bad input (exit status 2).
func Usagef(format string, a ...any) error { return Exitf(ExitUsage, format, a...) }
