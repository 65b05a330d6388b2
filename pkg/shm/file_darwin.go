package shm

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/rundir"
)

// Dir is where shared objects live: $PKIT_SHM_DIR if set, else the shm
// directory under the runtime directory (darwin's shm_open namespace has no
// directory to list, so objects are plain files).
func Dir() (string, error) {
	if dir := os.Getenv("PKIT_SHM_DIR"); dir != "" {
		return dir, rundir.Safe(dir)
	}
	return rundir.Subdir("shm")
}

// newFile returns a hidden temporary file in dir and a function that links
// it under path (or, with path "", drops it).
func newFile(dir string, mode uint32) (*os.File, func(path string) error, error) {
	f, err := os.CreateTemp(dir, ".pkit-new-")
	if err != nil {
		return nil, nil, err
	}
	if err := f.Chmod(os.FileMode(mode & 0o777)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, nil, err
	}
	tmp := f.Name()
	publish := func(path string) error {
		defer os.Remove(tmp)
		if path == "" {
			return nil
		}
		return os.Link(tmp, path)
	}
	return f, publish, nil
}

// reserve sizes f; darwin has no fallocate, so the file may be sparse.
func reserve(f *os.File, size int64) error { return f.Truncate(size) }
