// Package state keeps fastpath's on-disk records: one per attachment, written
// before the host is changed, so that DEL and GC can undo an ADD from the
// record alone, even after the call was killed. It also holds the per-device
// ownership claims and locks.
//
// Records and claims are replaced atomically (a temporary file renamed into
// place, a symlink), so a reader never sees half of one, but they are not
// fsynced: the page cache outlives any process that dies, and what a record
// describes (a VF's settings in the NIC, a netns, a netdev's name) does not
// outlive a power loss or a kernel crash either, which reset the NIC. What
// does (an OVS port, an IPAM lease) GC finds without a record. Each fsync
// cost about 0.3 ms on a node's disk, three per ADD, two per DEL.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
)

// Errors of the store.
var (
	ErrBusy    = errors.New("device is locked by another fastpath call")
	ErrClaimed = errors.New("device is held by another attachment")
	ErrCorrupt = errors.New("record is corrupt")
)

// Record is everything fastpath needs to undo one attachment, as this
// release works with it; format.go holds how it is written on disk.
type Record struct {
	Network     string
	ContainerID string
	IfName      string
	NetNS       string
	Mode        string // attach.ModeKernel, attach.ModeUserspace or attach.ModeVhostUser
	// Device is what the attachment holds, locked and claimed by this name:
	// the VF's PCI address, or the vhost-user port.
	Device string

	// The VF (both VF modes).
	PCI     string
	PF      string
	PFPCI   string
	VFIndex int
	Driver  string
	// PFOrig is nil when ADD asked for no PF-side setting; NetdevOrig is
	// the kernel VF's netdev as found.
	PFOrig     *sriov.PFSettings
	NetdevOrig *sriov.NetdevState

	Vhost *Vhost

	// DeviceInfoFile is the device-info file ADD wrote, "" if none.
	DeviceInfoFile string

	// Config is the network config of the ADD: GC and reclaim release the
	// IPAM lease with it when no runtime hands them one.
	Config json.RawMessage
	Args   string
}

// Vhost is what a vhost-user attachment made: the OVS port (backend "ovs")
// and the files in the pod's directory.
type Vhost struct {
	Backend string
	OVSDB   string
	Bridge  string
	Port    string
	Role    string
	PodDir  string
	Socket  string
	JSON    string
	Vlan    int
}

// Key names the attachment; CNI forbids ':' and '/' in all three parts.
func (r *Record) Key() string { return Key(r.Network, r.ContainerID, r.IfName) }

// Key names an attachment in the store.
func Key(network, containerID, ifname string) string {
	return network + "/" + containerID + ":" + ifname
}

// Store is a state directory (0700, files 0600).
type Store struct{ Dir string }

func (s Store) recordPath(key string) string {
	return filepath.Join(s.Dir, "attachments", key+".json")
}

// Load reads a record of any version this release knows; it returns (nil,
// nil) when there is none, ErrCorrupt for one it cannot read, and ErrNewer
// for one that a later release wrote.
func (s Store) Load(key string) (*Record, error) {
	b, err := readFile(s.recordPath(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading record %s: %w", key, err)
	}
	r, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("decoding record %s: %w", key, err)
	}
	if r.Key() != key || r.Device == "" {
		return nil, fmt.Errorf("record %s names %s on %q: %w", key, r.Key(), r.Device, ErrCorrupt)
	}
	switch {
	case r.Mode == attach.ModeVhostUser && r.Vhost == nil:
		return nil, fmt.Errorf("record %s: mode %s without its vhost member: %w", key, r.Mode, ErrCorrupt)
	case r.Mode == attach.ModeKernel && r.NetdevOrig == nil:
		return nil, fmt.Errorf("record %s: mode %s without the netdev as found: %w", key, r.Mode, ErrCorrupt)
	case r.Mode != attach.ModeVhostUser && r.Mode != attach.ModeKernel && r.Mode != attach.ModeUserspace:
		return nil, fmt.Errorf("record %s: mode %q: %w", key, r.Mode, ErrCorrupt)
	}
	return r, nil
}

// Quarantine sets a corrupt record aside (as .corrupt, for the operator)
// and drops every claim it holds, so that it blocks neither DEL, GC nor the
// device's next ADD. Each claim is dropped under its device's lock: held,
// the lock the caller holds already (ADD reclaiming its device), or one it
// takes; so that no ADD that reclaimed a device meanwhile loses its claim.
func (s Store) Quarantine(key string, held *Held) error {
	p := s.recordPath(key)
	if err := os.Rename(p, strings.TrimSuffix(p, ".json")+".corrupt"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("setting aside record %s: %w", key, err)
	}
	ents, err := os.ReadDir(filepath.Join(s.Dir, "devices"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("listing claims: %w", err)
	}
	for _, e := range ents {
		if owner, err := s.Owner(e.Name()); err != nil || owner != key {
			continue // not its claim (an error shows again under the lock, if ever)
		}
		if held != nil && held.device == e.Name() {
			if err := held.Release(key); err != nil {
				return err
			}
			continue
		}
		h, err := s.Lock(e.Name(), quarantineWait)
		if err != nil {
			return err
		}
		err = h.Release(key)
		h.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// quarantineWait bounds the wait for the lock of a device whose claim a
// corrupt record holds.
const quarantineWait = 10 * time.Second

// List returns the keys of a network's records.
func (s Store) List(network string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.Dir, "attachments", network))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing records of %s: %w", network, err)
	}
	var keys []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			keys = append(keys, network+"/"+name)
		}
	}
	return keys, nil
}

// ErrBadName is a device or attachment name that cannot name a file.
var ErrBadName = errors.New("name cannot name a state file")

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%q: %w", name, ErrBadName)
	}
	return nil
}

func (s Store) claimPath(device string) string {
	return filepath.Join(s.Dir, "devices", device)
}

// Owner returns the key that holds device, "" if none.
func (s Store) Owner(device string) (string, error) {
	owner, err := os.Readlink(s.claimPath(device))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading owner of %s: %w", device, err)
	}
	return owner, nil
}

// Held is a device's lock, taken by Lock: the operations that change the
// device's claim, or the record of an attachment on the device, are its
// methods, so that none can run without the lock. Every ADD, DEL and GC
// holds it for its whole work on the device.
type Held struct {
	s      Store
	device string
	fd     int
}

// Lock takes the per-device lock, waiting at most wait. The lock is an
// flock, so a killed process never leaves it held.
func (s Store) Lock(device string, wait time.Duration) (*Held, error) {
	if err := checkName(device); err != nil {
		return nil, err
	}
	fd, err := openFile(filepath.Join(s.Dir, "locks", device+".lock"), unix.O_CREAT|unix.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock of %s: %w", device, err)
	}
	deadline := time.Now().Add(wait)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &Held{s: s, device: device, fd: fd}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			unix.Close(fd)
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s after %s: %w", device, wait, ErrBusy)
			}
			return nil, fmt.Errorf("locking %s: %w", device, err)
		}
		time.Sleep(pause)
	}
}

// Unlock lets the next call have the device.
func (h *Held) Unlock() { unix.Close(h.fd) }

// Save writes the record of an attachment on the device, atomically.
func (h *Held) Save(r *Record) error {
	if r.Device != h.device {
		return fmt.Errorf("record %s is on %s, not on the locked %s", r.Key(), r.Device, h.device)
	}
	b, err := encode(r)
	if err != nil {
		return fmt.Errorf("encoding record %s: %w", r.Key(), err)
	}
	return writeAtomic(h.s.recordPath(r.Key()), b)
}

// Remove deletes the record of an attachment on the device; a missing one
// is fine.
func (h *Held) Remove(key string) error {
	err := unix.Unlink(h.s.recordPath(key))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing record %s: %w", key, err)
	}
	return nil
}

// Claim makes key the owner of the device. A symlink is created atomically
// or not at all, so two claims can never both win.
func (h *Held) Claim(key string) error {
	p := h.s.claimPath(h.device)
	if err := withDir(filepath.Dir(p), func() error { return unix.Symlink(key, p) }); err != nil {
		if errors.Is(err, os.ErrExist) {
			owner, _ := os.Readlink(p)
			return fmt.Errorf("%s held by %s: %w", h.device, owner, ErrClaimed)
		}
		return fmt.Errorf("claiming %s: %w", h.device, err)
	}
	return nil
}

// Release drops key's claim on the device, and nobody else's: under the
// lock, no claim changes between the read and the unlink.
func (h *Held) Release(key string) error {
	owner, err := h.s.Owner(h.device)
	if err != nil || owner != key {
		return err
	}
	if err := unix.Unlink(h.s.claimPath(h.device)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("releasing %s: %w", h.device, err)
	}
	return nil
}
