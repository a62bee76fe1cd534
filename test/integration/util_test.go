package integration

import "golang.org/x/sys/unix"

// unmount deletes a pod namespace the way a runtime does: the bind mount
// goes, and with the last reference the namespace.
func unmount(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		return err
	}
	return unix.Unlink(path)
}
