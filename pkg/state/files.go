package state

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// The store's files are read and written with plain system calls, not
// os.File: os.OpenFile of a regular file adds four fcntl calls and an
// epoll_ctl to the open (it tries the runtime's poller), os.Rename an lstat,
// and os.MkdirAll before each write a stat. In the emulated guest each call
// costs about 0.1 ms, and an ADD opened three files. Directories are made
// only when an operation finds them missing.

// withDir runs op, and once more after making dir when op found no dir.
func withDir(dir string, op func() error) error {
	err := op()
	if !errors.Is(err, unix.ENOENT) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return op()
}

// openFile opens path, making its directory when it is missing.
func openFile(path string, flags int, mode uint32) (fd int, err error) {
	err = withDir(filepath.Dir(path), func() (err error) {
		fd, err = unix.Open(path, flags|unix.O_CLOEXEC, mode)
		return err
	})
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// readFile reads a small file whole.
func readFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 4096)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// writeAtomic replaces path with b: written to a temporary file beside it,
// then renamed into place, so that a reader sees the old content or the
// new, never a part.
func writeAtomic(path string, b []byte) error {
	var tmp string
	fd, err := -1, error(nil)
	for range 100 { // a name left by a killed call is taken: pick another
		tmp = filepath.Join(filepath.Dir(path), ".tmp-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		if fd, err = openFile(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600); !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		return err
	}
	err = writeAll(fd, b)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Rename(tmp, path)
	}
	if err != nil {
		unix.Unlink(tmp)
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
