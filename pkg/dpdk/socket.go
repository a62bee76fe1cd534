package dpdk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// WaitSocket waits, at most timeout, for a unix socket at path, as
// ovs-vswitchd creates one for a dpdkvhostuser port after the port's
// transaction. It wakes on inotify events of path's directory, not on a
// timer: no fixed poll on the happy path.
func WaitSocket(path string, timeout time.Duration) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("waiting for socket %s: %w", path, err)
	}
	defer unix.Close(fd)
	// Watch first, then look: a socket made in between is not missed.
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ATTRIB); err != nil {
		return fmt.Errorf("waiting for socket %s: watching its directory: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for {
		if st, err := os.Stat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("no socket %s within %s", path, timeout)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("waiting for socket %s: %w", path, err)
		}
		// Drain the events; which file they name does not matter, the
		// stat above decides.
		for {
			if _, err := unix.Read(fd, buf); err != nil {
				break
			}
		}
	}
}
