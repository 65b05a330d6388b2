package pspawn

import "errors"

// watchFile: darwin has no inotify; --ready-file is Linux only.
func watchFile(path string, ch chan<- error, done <-chan struct{}) {
	ch <- errors.New("--ready-file needs Linux (inotify)")
}
