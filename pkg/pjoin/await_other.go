//go:build !linux

package pjoin

// awaitRecord gives the supervisor a moment to write t's record.
func (j *joiner) awaitRecord(t *target) { j.refresh(t, refreshWait) }
