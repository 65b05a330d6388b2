//go:build !(linux && amd64)

package procwait

import "errors"

// DeferTeardown is a no-op here: the keeper that takes the unmapping of the
// address space off the exit path exists only for linux/amd64.
func DeferTeardown(name string) (int, error) {
	return 0, errors.ErrUnsupported
}
