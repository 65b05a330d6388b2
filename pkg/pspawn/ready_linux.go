package pspawn

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// watchFile tells ch once path exists, watching its directory with
// inotify.
func watchFile(path string, ch chan<- error, done <-chan struct{}) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		ch <- fmt.Errorf("--ready-file: %w", err)
		return
	}
	f := os.NewFile(uintptr(fd), "inotify")
	defer f.Close()
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE); err != nil {
		ch <- fmt.Errorf("--ready-file: watch %s: %w", filepath.Dir(path), err)
		return
	}
	go func() {
		<-done
		f.SetReadDeadline(time.Now()) // ends the read below
	}()
	buf := make([]byte, 4096)
	for {
		if _, err := os.Stat(path); err == nil {
			ch <- nil
			return
		}
		if _, err := f.Read(buf); err != nil {
			return // done: the answer came from elsewhere
		}
	}
}
