package integration

import (
	"os"

	"golang.org/x/sys/unix"
)

// unmount deletes a pod namespace the way a runtime does: the bind mount
// goes, and with the last reference the namespace.
func unmount(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		return err
	}
	return unix.Unlink(path)
}

func readFile(path string) ([]byte, error)  { return os.ReadFile(path) }
func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
