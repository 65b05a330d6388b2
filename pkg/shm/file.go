package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/pkit-sh/pkit/pkg/regfile"
	"golang.org/x/sys/unix"
)

// PathOf returns the file that holds the object called name.
func PathOf(name string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// openFile opens path read-write without following symlinks and checks
// that it is a regular file owned by the calling user: /dev/shm is
// world-writable, so another user could plant an object under a name we use.
func openFile(name, path string) (*os.File, os.FileInfo, error) {
	f, err := regfile.Open(path, unix.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: %w", name, ErrNotExist)
		}
		return nil, nil, fmt.Errorf("open %s: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat %s: %w", name, err)
	}
	if err := checkOwner(name, fi); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

func checkOwner(name string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (not a regular file)", name, ErrNotPkit)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s: %w (uid %d); pshm only opens your own objects", name, ErrForeign, st.Uid)
	}
	return nil
}

// Open maps the existing object called name.
func Open(name string) (*Object, error) {
	path, err := PathOf(name)
	if err != nil {
		return nil, err
	}
	f, fi, err := openFile(name, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() < HeaderSize {
		return nil, fmt.Errorf("%s: %w (only %d bytes)", name, ErrNotPkit, fi.Size())
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", name, err)
	}
	if err := validate(name, mem, fi.Size()); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return &Object{Name: name, Path: path, mem: mem, Info: fi}, nil
}

// Create makes a new object called name with the shape spec. The object
// appears fully initialised or not at all: it is built in an unnamed (or
// hidden) file and then linked under its name, which fails if the name is
// taken. With existOK an existing object of the same shape is opened
// instead (created is then false); one of another shape is an error.
// init, if not nil, fills the data before the object becomes visible.
func Create(name string, spec Spec, existOK bool, init func(*Object) error) (obj *Object, created bool, err error) {
	if strings.HasPrefix(name, "sem.") {
		return nil, false, fmt.Errorf("%s: %w", name, ErrReserved)
	}
	elemSize, dataSize, err := spec.dataSize()
	if err != nil {
		return nil, false, err
	}
	path, err := PathOf(name)
	if err != nil {
		return nil, false, err
	}
	size := HeaderSize + dataSize
	f, publish, err := newFile(filepath.Dir(path), spec.Mode)
	if err != nil {
		return nil, false, fmt.Errorf("create %s: %w", name, err)
	}
	defer f.Close()
	if err := reserve(f, int64(size)); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return nil, false, fmt.Errorf("create %s: its %d bytes do not fit in %s: %w", name, size, filepath.Dir(path), err)
		}
		return nil, false, fmt.Errorf("create %s: %w", name, err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, false, fmt.Errorf("map %s: %w", name, err)
	}
	spec.header(mem, elemSize, dataSize)
	fi, _ := f.Stat()
	obj = &Object{Name: name, Path: path, mem: mem, Info: fi}
	if init != nil {
		if err := init(obj); err != nil {
			obj.Close()
			publish("")
			return nil, false, err
		}
	}
	if err := publish(path); err != nil {
		obj.Close()
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, fmt.Errorf("create %s: %w", name, err)
		}
		if !existOK {
			return nil, false, fmt.Errorf("%s: %w", name, ErrExist)
		}
		old, err := Open(name)
		if err != nil {
			return nil, false, err
		}
		if err := old.Matches(spec); err != nil {
			old.Close()
			return nil, false, err
		}
		return old, false, nil
	}
	return obj, true, nil
}

// OpenOrCreate opens name, creating it with spec if it does not exist; an
// existing object must match spec. Locks, semaphores, events and barriers
// are created on first use, as flock(1) creates its lock file.
func OpenOrCreate(name string, spec Spec) (*Object, error) {
	obj, err := Open(name)
	if err == nil {
		if err := obj.Matches(spec); err != nil {
			obj.Close()
			return nil, err
		}
		return obj, nil
	}
	if !errors.Is(err, ErrNotExist) {
		return nil, err
	}
	obj, _, err = Create(name, spec, true, nil)
	return obj, err
}

// Remove unlinks the object called name. Processes that have it mapped keep
// their mapping; the memory is freed when the last one unmaps it. Only pkit
// objects and glibc semaphores (sem.NAME) are removed.
func Remove(name string) error {
	path, err := PathOf(name)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(name, "sem.") {
		obj, err := Open(name)
		if err != nil {
			return err
		}
		obj.Close()
	} else {
		fi, err := os.Lstat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s: %w", name, ErrNotExist)
			}
			return err
		}
		if err := checkOwner(name, fi); err != nil {
			return err
		}
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", name, ErrNotExist)
		}
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// List opens every pkit object of the calling user, sorted by name, plus
// glibc semaphores (sem.NAME) when withSems is set; the caller closes them.
// Semaphores are returned as names only.
func List(withSems bool) (objs []*Object, sems []string, err error) {
	dir, err := Dir()
	if err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !e.Type().IsRegular() {
			continue
		}
		if strings.HasPrefix(n, "sem.") {
			if fi, err := e.Info(); withSems && err == nil && checkOwner(n, fi) == nil {
				sems = append(sems, n)
			}
			continue
		}
		if obj, err := Open(n); err == nil {
			objs = append(objs, obj)
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Name < objs[j].Name })
	return objs, sems, nil
}
