package rundir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	base := t.TempDir()
	t.Setenv("PKIT_DIR", "")
	t.Setenv("XDG_RUNTIME_DIR", base)
	dir, err := Dir()
	if err != nil || dir != filepath.Join(base, "pkit") {
		t.Fatalf("Dir() = %q, %v", dir, err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want 0700", fi.Mode().Perm())
	}
	own := filepath.Join(base, "own")
	t.Setenv("PKIT_DIR", own)
	if dir, err := Dir(); err != nil || dir != own {
		t.Fatalf("PKIT_DIR: %q, %v", dir, err)
	}
	if sub, err := Subdir("jobs"); err != nil || sub != filepath.Join(own, "jobs") {
		t.Fatalf("Subdir(jobs) = %q, %v", sub, err)
	}
	if err := os.Chmod(own, 0o777); err != nil {
		t.Fatal(err)
	}
	var re *Error
	if _, err := Dir(); !errors.As(err, &re) || re.ExitCode() != 2 || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("world-writable dir accepted: %v", err)
	}
	if os.Getuid() == 0 {
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PKIT_DIR", other)
		if _, err := Dir(); !errors.As(err, &re) || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("foreign dir accepted: %v", err)
		}
	}
}

// TestSymlink: a link the user made to a directory of theirs is followed;
// one planted by another user (as /tmp/pkit-$UID -> victim, issue 15) is
// refused, however good its target looks.
func TestSymlink(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(base, "mine")
	if err := os.Symlink(target, mine); err != nil {
		t.Fatal(err)
	}
	if err := Safe(mine); err != nil {
		t.Errorf("the user's own link refused: %v", err)
	}
	t.Setenv("PKIT_DIR", mine)
	if sub, err := Subdir("jobs"); err != nil {
		t.Errorf("Subdir through the user's link: %q, %v", sub, err)
	} else if _, err := os.Stat(filepath.Join(target, "jobs")); err != nil {
		t.Errorf("jobs not made in the link's target: %v", err)
	}
	if os.Getuid() != 0 {
		t.Skip("planting a link owned by another user needs root")
	}
	planted := filepath.Join(base, "pkit-planted")
	if err := os.Symlink(target, planted); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	var re *Error
	err := Safe(planted)
	if !errors.As(err, &re) || re.ExitCode() != 2 || !strings.Contains(err.Error(), "symbolic link owned by uid 65534") {
		t.Errorf("planted link followed: %v", err)
	}
	t.Setenv("PKIT_DIR", planted)
	if _, err := Subdir("queues"); err == nil {
		t.Error("Subdir followed the planted link")
	}
	if _, err := os.Stat(filepath.Join(target, "queues")); err == nil {
		t.Error("queues made in the planted link's target")
	}
}
