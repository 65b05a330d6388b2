package pjoin

import (
	"golang.org/x/sys/unix"
)

// awaitRecord waits until t's record holds the job's end, or until the
// supervisor that would write it is gone. Records are renamed into place,
// so inotify's IN_MOVED_TO on their directory wakes pjoin as one is
// written; a kernel without inotify leaves the short wait of refresh.
func (j *joiner) awaitRecord(t *target) {
	j.refresh(t, 0)
	if t.rec.Final() {
		return
	}
	sup := t.sup
	if sup == nil {
		j.refresh(t, 0) // it may have written the record, then exited
		return
	}
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		j.refresh(t, refreshWait)
		return
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, j.store.Dir, unix.IN_MOVED_TO); err != nil {
		j.refresh(t, refreshWait)
		return
	}
	buf := make([]byte, 4096)
	for {
		j.refresh(t, 0) // after the watch is set: no write is missed
		if t.rec.Final() {
			return
		}
		fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}, {Fd: int32(sup.FD()), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			j.refresh(t, refreshWait)
			return
		}
		if fds[1].Revents != 0 {
			j.refresh(t, 0) // the supervisor is gone: its last word is in
			return
		}
		for {
			if _, err := unix.Read(in, buf); err != nil {
				break // EAGAIN: the events read
			}
		}
	}
}
