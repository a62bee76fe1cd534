package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/pkg/ipam"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// cmdCheck verifies that the attachment is still what ADD made.
func cmdCheck(args *skel.CmdArgs) error {
	c, err := begin(args)
	if err != nil {
		return err
	}
	if err := c.check(); err != nil {
		c.log.Error("CHECK failed", "error", err)
		return cniError(err)
	}
	return nil
}

func (c *call) check() error {
	s, err := c.conf.Resolve(c.cargs)
	if err != nil {
		return err
	}
	if c.conf.Mode == attach.ModeVhostUser {
		podUID := c.cargs.PodUID
		if podUID == "" {
			podUID = c.args.ContainerID
		}
		if _, err := c.conf.ResolveVhost(podUID, c.args.IfName); err != nil {
			return err
		}
	}
	if c.conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK needs prevResult", "")
	}
	prev, err := current.NewResultFromResult(c.conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, fmt.Sprintf("decoding prevResult: %v", err), "")
	}
	key := state.Key(c.conf.Name, c.args.ContainerID, c.args.IfName)
	rec, err := c.store.Load(key)
	if err != nil {
		return err
	}
	if rec == nil {
		return types.NewError(ErrNoRecord, fmt.Sprintf("no attachment record for %s", key), "")
	}
	if owner, err := c.store.Owner(rec.Device); err != nil || owner != key {
		return errors.Join(err, checkFailed("%s is held by %q, not by %s", rec.Device, owner, key))
	}
	iface, idx := findInterface(prev, c.args.IfName, c.args.Netns)
	if iface == nil {
		return checkFailed("prevResult lists no interface %s in %s", c.args.IfName, c.args.Netns)
	}
	if rec.DeviceInfoFile != "" {
		if _, err := devinfo.Read(rec.DeviceInfoFile); err != nil {
			return checkFailed("%v", err)
		}
	}
	switch rec.Mode {
	case attach.ModeVhostUser:
		err = c.checkVhost(rec)
	case attach.ModeUserspace:
		err = c.checkUserspaceVF(rec, s)
	default:
		err = c.checkKernelVF(rec, s, iface, idx, prev)
	}
	if err != nil {
		return err
	}
	if call := c.ipamCall(rec); call.Type != "" {
		return call.Check(c.ctx)
	}
	return nil
}

// checkUserspaceVF verifies the PF side and that the app's driver, which
// owns the device, is still the one ADD found: nothing of the VF is in the
// pod's namespace.
func (c *call) checkUserspaceVF(rec *state.Record, s *config.Settings) error {
	if s.PFSideRequested() {
		if err := checkPFSide(rec, s); err != nil {
			return err
		}
	}
	if d := c.sysfs.Driver(rec.PCI); d != rec.Driver {
		return checkFailed("VF %s is bound to %q, want %q", rec.PCI, d, rec.Driver)
	}
	return nil
}

// checkKernelVF verifies the PF side, the netdev in the pod, and its
// addresses and routes.
func (c *call) checkKernelVF(rec *state.Record, s *config.Settings, iface *current.Interface, idx int, prev *current.Result) error {
	if s.PFSideRequested() {
		if err := checkPFSide(rec, s); err != nil {
			return err
		}
	}
	if err := c.checkNetdev(rec, s.MTU, iface); err != nil {
		return err
	}
	var ips []*current.IPConfig
	for _, ipc := range prev.IPs {
		if ipc.Interface != nil && *ipc.Interface == idx {
			ips = append(ips, ipc)
		}
	}
	if err := ipam.Verify(c.args.Netns, c.args.IfName, ips, prev.Routes); err != nil {
		return checkFailed("%v", err)
	}
	return nil
}

func (c *call) checkNetdev(rec *state.Record, mtu int, iface *current.Interface) error {
	ns, err := openNamespaces(c.args.Netns, true)
	if err != nil {
		return err
	}
	defer closeNamespaces(ns)
	if ns.PodH == nil {
		return checkFailed("CNI_NETNS %s is gone", c.args.Netns)
	}
	l, err := sriov.FindInNS(ns, c.args.IfName, rec.PCI, rec.NetdevOrig.Index)
	if err != nil {
		return err
	}
	if l == nil {
		return checkFailed("VF %s is not in %s", rec.PCI, c.args.Netns)
	}
	a := l.Attrs()
	var bad []string
	if a.Name != c.args.IfName {
		bad = append(bad, fmt.Sprintf("named %s, want %s", a.Name, c.args.IfName))
	}
	if iface.Mac != "" && !strings.EqualFold(a.HardwareAddr.String(), iface.Mac) {
		bad = append(bad, fmt.Sprintf("MAC %s, want %s", a.HardwareAddr, iface.Mac))
	}
	if mtu == 0 {
		mtu = iface.Mtu
	}
	if mtu != 0 && a.MTU != mtu {
		bad = append(bad, fmt.Sprintf("MTU %d, want %d", a.MTU, mtu))
	}
	if a.Flags&net.FlagUp == 0 {
		bad = append(bad, "down")
	}
	if len(bad) > 0 {
		return checkFailed("VF %s in the pod: %s", rec.PCI, strings.Join(bad, ", "))
	}
	return nil
}

func checkPFSide(rec *state.Record, s *config.Settings) error {
	ns, err := openNamespaces("", false)
	if err != nil {
		return err
	}
	defer closeNamespaces(ns)
	_, cur, err := sriov.ReadPFSettings(ns.HostH, rec.PF, rec.VFIndex)
	if err != nil {
		return err
	}
	if bad := sriov.Mismatches(cur, sriov.Desired(cur, s)); len(bad) > 0 {
		return checkFailed("VF %d of %s: %s", rec.VFIndex, rec.PF, strings.Join(bad, "; "))
	}
	return nil
}

func findInterface(r *current.Result, name, sandbox string) (*current.Interface, int) {
	for i, iface := range r.Interfaces {
		if iface.Name == name && iface.Sandbox == sandbox {
			return iface, i
		}
	}
	return nil, -1
}

func checkFailed(format string, a ...any) error {
	return types.NewError(ErrCheckFail, fmt.Sprintf(format, a...), "")
}

// statusPodUID and statusIfName stand for the pod that STATUS has not: a
// pod UID of a real UID's 36 characters, so that a node podsDir too long
// for any pod's socket path fails STATUS as it would fail every ADD.
const (
	statusPodUID = "00000000-0000-0000-0000-000000000000"
	statusIfName = "net1"
)

// cmdStatus reports whether fastpath can serve ADDs: the config is valid, the
// configured VF's PF (or, with no deviceID, any PF) has SR-IOV enabled, or
// OVSDB answers and has the bridge, and IPAM is ready.
func cmdStatus(args *skel.CmdArgs) error {
	c, err := begin(args)
	if err != nil {
		return err
	}
	s, err := c.conf.Resolve(c.cargs)
	if err != nil {
		return err
	}
	if c.conf.Mode == attach.ModeVhostUser {
		if _, err := c.conf.ResolveVhost(statusPodUID, statusIfName); err != nil {
			return err
		}
		if err := c.statusVhost(); err != nil {
			return types.NewError(types.ErrPluginNotAvailable, err.Error(), "")
		}
	} else if pci := s.DeviceID; pci != "" {
		if _, err := c.sysfs.LookupVF(pci); err != nil {
			return types.NewError(types.ErrPluginNotAvailable, err.Error(), "")
		}
	} else {
		pfs, err := c.sysfs.SRIOVPFs()
		if err != nil || len(pfs) == 0 {
			return types.NewError(types.ErrPluginNotAvailable,
				fmt.Sprintf("no PF with SR-IOV enabled under %s", c.conf.SysfsRoot), fmt.Sprint(err))
		}
	}
	if c.conf.IPAM.Type != "" {
		if err := ipam.Status(c.ctx, c.conf.IPAM.Type, args.StdinData); err != nil {
			return types.NewError(types.ErrPluginNotAvailable, err.Error(), "")
		}
	}
	return nil
}
