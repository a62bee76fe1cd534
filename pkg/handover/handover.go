// Package handover gives a vhost-user socket to a pod without any API
// server: each pod has a host directory (mounted into the pod with a
// hostPath volume and subPathExpr $(POD_UID)) holding <ifname>.sock and
// <ifname>.json, the latter with everything the pod's app needs to open its
// port.
package handover

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// AppInfo is <ifname>.json: what the pod's DPDK app needs.
type AppInfo struct {
	// Socket is the socket's file name, beside this file in the pod.
	Socket string `json:"socket"`
	// Role is the app's side: "server" creates the socket, "client"
	// connects to it.
	Role     string   `json:"role"`
	MAC      string   `json:"mac"`
	MTU      int      `json:"mtu,omitempty"`
	VLAN     int      `json:"vlan,omitempty"`
	Queues   int      `json:"queues"`
	IPs      []string `json:"ips,omitempty"`
	Gateways []string `json:"gateways,omitempty"`
	Routes   []Route  `json:"routes,omitempty"`
}

// Route is one route of AppInfo.
type Route struct {
	Dst string `json:"dst"`
	GW  string `json:"gw,omitempty"`
}

// Dir is a pod's directory and the modes its files get.
type Dir struct {
	Path     string
	DirMode  os.FileMode
	FileMode os.FileMode
	GID      int // -1: leave the group alone
}

// Create makes the pod's directory (and its base, 0755). Another interface
// of the same pod may have made it already: then it is left as it is. DEL
// removes it once it is empty (RemoveDirIfEmpty), whichever interface made
// it: the directory is fastpath's, under the node's pods directory, and
// nothing else removes it when the pod is gone.
func (d Dir) Create() error {
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(d.Path), err)
	}
	if err := os.Mkdir(d.Path, d.DirMode); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return fmt.Errorf("creating %s: %w", d.Path, err)
	}
	// Mkdir's mode passes through the umask: set it exactly.
	if err := d.own(d.Path, d.DirMode); err != nil {
		os.Remove(d.Path)
		return err
	}
	return nil
}

func (d Dir) own(path string, mode os.FileMode) error {
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("setting mode of %s: %w", path, err)
	}
	if d.GID >= 0 {
		if err := os.Lchown(path, -1, d.GID); err != nil {
			return fmt.Errorf("setting group of %s: %w", path, err)
		}
	}
	return nil
}

// WriteInfo writes the app's JSON file atomically with the file mode. The
// pod may have planted anything in its directory: the temporary file is new
// (O_EXCL, so never a planted link's target), its mode and group are set
// through its descriptor, and the rename replaces whatever stands at path.
func (d Dir) WriteInfo(path string, info *AppInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(d.FileMode)
	}
	if err == nil && d.GID >= 0 {
		err = f.Chown(-1, d.GID)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// LinkSocket makes dst a hard link of the socket src, so that the pod, which
// sees only its own directory, connects to the switch's socket. A symlink
// would point outside the pod's mount. Hard links need both on one
// filesystem (as /var/run is), which is checked with a clear error.
func (d Dir) LinkSocket(src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("vhost-user socket %s: %w", src, err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("vhost-user socket %s is not a socket (%s)", src, st.Mode())
	}
	if err := os.Link(src, dst); err != nil {
		if errors.Is(err, syscall.EXDEV) {
			return fmt.Errorf("socket %s and pod directory %s are on different filesystems: put podsDir on the socket's filesystem: %w", src, filepath.Dir(dst), err)
		}
		return fmt.Errorf("linking %s to %s: %w", src, dst, err)
	}
	return nil
}

// Remove deletes files; missing ones are fine.
func Remove(paths ...string) error {
	var errs []error
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveDirIfEmpty removes the pod's directory once nothing is left in it
// (another interface of the same pod may still use it).
func RemoveDirIfEmpty(dir string) error {
	err := os.Remove(dir)
	if err == nil || errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
		return nil
	}
	return fmt.Errorf("removing %s: %w", dir, err)
}
