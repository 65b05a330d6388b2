package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// RuntimeDir returns pkit's state directory, creating it with mode 0700:
// $PKIT_DIR, else $XDG_RUNTIME_DIR/pkit, else /tmp/pkit-$UID. A directory
// owned by another user, or writable by group or others, is refused with a
// usage error (exit status 2), because another user could plant state in it.
func RuntimeDir() (string, error) {
	dir := os.Getenv("PKIT_DIR")
	if dir == "" {
		if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" {
			dir = filepath.Join(xdg, "pkit")
		} else {
			dir = filepath.Join(os.TempDir(), "pkit-"+strconv.Itoa(os.Getuid()))
		}
	}
	if err := SafeDir(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// RuntimeSubdir returns RuntimeDir()/name, created 0700 if missing.
func RuntimeSubdir(name string) (string, error) {
	dir, err := RuntimeDir()
	if err != nil {
		return "", err
	}
	sub := filepath.Join(dir, name)
	if err := os.Mkdir(sub, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("create %s: %w", sub, err)
	}
	return sub, nil
}

// SafeDir creates dir (and parents) with mode 0700 if missing, then checks
// that it is a directory owned by the current user and not writable by group
// or others.
func SafeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Exitf(ExitUsage, "runtime directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return Exitf(ExitUsage, "runtime directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return Exitf(ExitUsage, "runtime directory %s: not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return Exitf(ExitUsage, "runtime directory %s is owned by uid %d, not by you (uid %d); refusing to use it (set PKIT_DIR)", dir, st.Uid, os.Getuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return Exitf(ExitUsage, "runtime directory %s has mode %04o, writable by others; refusing to use it (chmod 700 it or set PKIT_DIR)", dir, fi.Mode().Perm())
	}
	return nil
}
