//go:build !unix

package client

import (
	"fmt"
	"os"
)

// lockDir takes an exclusive lock on path: a lock file created
// exclusively and removed by the returned function. One left by a process
// that crashed must be removed by hand.
func lockDir(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("in use by another emitter, or left by one that crashed (%s exists): %w", path, err)
	}
	f.Close()
	return func() { os.Remove(path) }, nil
}
