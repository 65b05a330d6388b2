//go:build !linux

package ppool

// runLoop is Linux's (pidfds, epoll): elsewhere the workers run the jobs.
func (p *Pool) runLoop(queue <-chan *job) bool { return false }

// wake is runLoop's.
func (p *Pool) wake() {}
