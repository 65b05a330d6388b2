package procwait

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
	"golang.org/x/sys/unix"
)

// TestKeeperChild is the process under test for TestDeferTeardown: it starts
// its keeper, prints the keeper's PID, and lives until its stdin closes.
func TestKeeperChild(t *testing.T) {
	if os.Getenv("PROCWAIT_KEEPER_CHILD") != "1" {
		t.Skip("run by TestDeferTeardown")
	}
	pid, err := DeferTeardown("pw-keeper")
	if err != nil {
		fmt.Println("error", err)
		return
	}
	if again, _ := DeferTeardown("other"); again != pid {
		fmt.Println("error second keeper", again)
		return
	}
	fmt.Println("keeper", pid)
	io.Copy(io.Discard, os.Stdin)
}

// kcmpVM is KCMP_VM from linux/kcmp.h.
const kcmpVM = 1

// TestDeferTeardown checks the keeper: it shares the process's memory, holds
// only a pidfd, is named and idle-scheduled, and ends after the process.
func TestDeferTeardown(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKeeperChild$", "-test.v")
	cmd.Env = append(os.Environ(), "PROCWAIT_KEEPER_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	keeper := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 && f[0] == "error" {
			t.Fatal(sc.Text())
		}
		if len(f) == 2 && f[0] == "keeper" {
			keeper, _ = strconv.Atoi(f[1])
			break
		}
	}
	if keeper <= 0 {
		t.Fatal("no keeper PID printed")
	}
	go io.Copy(io.Discard, stdout)

	// It gets its name, its descriptors closed and its policy at once, but
	// asynchronously: give it a moment.
	var comm string
	var fds []os.DirEntry
	for try := 0; try < 200; try++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", keeper))
		comm = strings.TrimSpace(string(b))
		fds, _ = os.ReadDir(fmt.Sprintf("/proc/%d/fd", keeper))
		if comm == "pw-keeper" && len(fds) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if comm != "pw-keeper" {
		t.Errorf("keeper's name %q, want pw-keeper", comm)
	}
	if len(fds) != 1 {
		t.Errorf("keeper holds %d descriptors, want 1 (its pidfd)", len(fds))
	} else if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", keeper, fds[0].Name())); l != "anon_inode:[pidfd]" {
		t.Errorf("keeper's descriptor is %q, want its pidfd", l)
	}
	if st, err := proc.ReadStat(keeper); err != nil || st.PPID != cmd.Process.Pid {
		t.Errorf("keeper's parent: %+v, %v; want %d", st, err, cmd.Process.Pid)
	}
	// KCMP_VM: 0 when the two share one address space.
	if r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(cmd.Process.Pid), uintptr(keeper), kcmpVM, 0, 0, 0); errno == 0 && r != 0 {
		t.Errorf("keeper does not share the process's memory (kcmp %d)", r)
	} else if errno != 0 {
		t.Logf("kcmp: %v (not checked)", errno)
	}
	if pol, _, errno := unix.Syscall(unix.SYS_SCHED_GETSCHEDULER, uintptr(keeper), 0, 0); errno != 0 || pol != 5 {
		t.Errorf("keeper's policy %d (%v), want SCHED_IDLE", pol, errno)
	}

	// Still there while the process lives; gone (or a zombie awaiting its
	// new reaper) soon after it ends.
	time.Sleep(50 * time.Millisecond)
	if st, err := proc.ReadStat(keeper); err != nil || st.State == 'Z' {
		t.Fatalf("keeper ended before the process: %+v, %v", st, err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := proc.ReadStat(keeper)
		if err != nil || st.State == 'Z' || st.State == 'X' || st.StartTime == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keeper %d still runs 10 s after the process ended: %+v", keeper, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
