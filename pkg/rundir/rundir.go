// Package rundir finds and checks pkit's per-user state directory. It does
// not import kong, so the packages that keep state (job, shm, queue) stay
// free of the command-line layer.
package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Error is a directory that cannot be used safely. It is a usage error:
// cli turns it into exit status 2 (see ExitCode).
type Error struct {
	Dir string
	Err error
}

func (e *Error) Error() string { return "runtime directory " + e.Dir + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the exit status a tool ends with on this error.
func (e *Error) ExitCode() int { return 2 }

func refuse(dir, format string, a ...any) error {
	return &Error{Dir: dir, Err: fmt.Errorf(format, a...)}
}

// Dir returns pkit's state directory, creating it with mode 0700:
// $PKIT_DIR, else $XDG_RUNTIME_DIR/pkit, else /tmp/pkit-$UID, checked by
// Safe.
func Dir() (string, error) {
	dir := Path()
	if err := Safe(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// Path returns where Dir is, without creating or checking it: for
// readers that only list it, such as shell completion.
func Path() string {
	if dir := os.Getenv("PKIT_DIR"); dir != "" {
		return dir
	}
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" {
		return filepath.Join(xdg, "pkit")
	}
	return filepath.Join(os.TempDir(), "pkit-"+strconv.Itoa(os.Getuid()))
}

// Subdir returns Dir()/name, created 0700 if missing.
func Subdir(name string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	sub := filepath.Join(dir, name)
	if err := os.Mkdir(sub, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("create %s: %w", sub, err)
	}
	return sub, nil
}

// Safe creates dir (and parents) with mode 0700 if missing, then checks
// that it is a directory owned by the current user and not writable by
// group or others. A symbolic link is followed only if the user owns it:
// in a shared directory such as /tmp another user could plant
// /tmp/pkit-$UID pointing anywhere.
func Safe(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &Error{Dir: dir, Err: err}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return &Error{Dir: dir, Err: err}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if uid := owner(fi); uid != os.Getuid() {
			return refuse(dir, "is a symbolic link owned by uid %d, not by you (uid %d); refusing to follow it (set PKIT_DIR)", uid, os.Getuid())
		}
		if fi, err = os.Stat(dir); err != nil {
			return &Error{Dir: dir, Err: err}
		}
	}
	if !fi.IsDir() {
		return refuse(dir, "not a directory")
	}
	if uid := owner(fi); uid != os.Getuid() {
		return refuse(dir, "owned by uid %d, not by you (uid %d); refusing to use it (set PKIT_DIR)", uid, os.Getuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return refuse(dir, "has mode %04o, writable by others; refusing to use it (chmod 700 it or set PKIT_DIR)", fi.Mode().Perm())
	}
	return nil
}

// owner is the uid that owns fi's file (the current user's where the
// system does not say).
func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return os.Getuid()
}
