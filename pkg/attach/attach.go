// Package attach is the vocabulary of fastpath's attachments that the plugin
// and fastpathctl share, so that neither keeps a copy that can drift: the
// modes, which mode a VF's bound driver means, the external IDs that mark
// fastpath's OVS ports, the name a VF returned without a record gets,
// whether a network namespace is alive, and the names of VF link states.
package attach

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Attachment modes: a VF on its kernel driver moves into the pod; a VF on a
// userspace driver (vfio-pci, uio) stays put and is configured from the PF;
// a vhost-user attachment is a socket in the pod's directory. ModeVhostUser
// is also the network config's "mode" that asks for it.
const (
	ModeKernel    = "kernel"
	ModeUserspace = "userspace"
	ModeVhostUser = "vhostuser"
)

// userspaceDrivers hand a VF to a userspace app (DPDK) instead of the kernel.
var userspaceDrivers = map[string]bool{"vfio-pci": true, "uio_pci_generic": true, "igb_uio": true}

// ErrNoMode is a VF that fastpath can attach in neither VF mode.
var ErrNoMode = errors.New("VF is neither on a kernel netdev driver nor on a userspace one")

// VFMode tells how a VF is attached from its bound driver ("" when unbound)
// and its netdev in the host namespace ("" when none shows).
func VFMode(pci, driver, netdev string) (string, error) {
	switch {
	case userspaceDrivers[driver]:
		return ModeUserspace, nil
	case netdev != "":
		return ModeKernel, nil
	case driver == "":
		return "", fmt.Errorf("VF %s is bound to no driver: %w", pci, ErrNoMode)
	}
	return "", fmt.Errorf("VF %s (driver %q) shows no netdev in the host namespace: %w", pci, driver, ErrNoMode)
}

// External IDs that mark fastpath's OVS ports, so that DEL, CHECK and GC
// (and an operator with ovs-vsctl) find whose a port is.
const (
	ExtNetwork   = "fastpath.network"
	ExtContainer = "fastpath.container-id"
	ExtIfName    = "fastpath.ifname"
	ExtNetNS     = "fastpath.netns"
	ExtPod       = "fastpath.pod"
	ExtPodUID    = "fastpath.pod-uid"
)

// ReturnedName is the name DEL gives a VF it brings back from a live pod
// without a record: its original name died with the record, and "fp" with
// the PCI address is a name no other device has.
func ReturnedName(pci string) string {
	return "fp" + strings.NewReplacer(":", "", ".", "").Replace(pci)
}

// OpenNetNS opens path if it is a network namespace, else returns -1. A
// runtime may leave the bind-mount point behind after it unmounted the
// namespace: that file is not one.
func OpenNetNS(path string) netns.NsHandle {
	if path == "" {
		return -1
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return -1
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(h), &st); err != nil || st.Type != unix.NSFS_MAGIC {
		h.Close()
		return -1
	}
	return h
}

// NetNSAlive tells whether path still names a network namespace.
func NetNSAlive(path string) bool {
	h := OpenNetNS(path)
	defer h.Close() // Close sets h to -1
	return h >= 0
}

// VF link states as the kernel numbers them (IFLA_VF_LINK_STATE_*), and
// the names the config and `ip link` give them.
const (
	LinkStateAuto uint32 = iota
	LinkStateEnable
	LinkStateDisable
)

var linkStates = []string{LinkStateAuto: "auto", LinkStateEnable: "enable", LinkStateDisable: "disable"}

// ParseLinkState is the kernel's number for a link state's name.
func ParseLinkState(name string) (uint32, bool) {
	for i, n := range linkStates {
		if n == name {
			return uint32(i), true
		}
	}
	return 0, false
}

// LinkStateName is the name of the kernel's link state s.
func LinkStateName(s uint32) string {
	if int(s) < len(linkStates) {
		return linkStates[s]
	}
	return strconv.FormatUint(uint64(s), 10)
}
