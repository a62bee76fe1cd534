package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/crash"
	"github.com/fastpath-cni/fastpath/pkg/ipam"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// kernelVF is a VF on its kernel driver: its netdev moves into the pod,
// renamed, with its MAC and MTU, and gets the IPAM plugin's addresses.
type kernelVF struct{ vf }

func (*kernelVF) name() string { return attach.ModeKernel }

// inspect records the PF side and the netdev as found, refusing one that
// is not the VF's own.
func (k *kernelVF) inspect(rec *state.Record) (err error) {
	if err := k.inspectPF(rec); err != nil {
		return err
	}
	rec.NetdevOrig, err = sriov.ReadOwnNetdev(k.ns, k.found)
	return err
}

// apply sets the netdev's MAC, then the PF side (see sriov.SetMAC), then
// moves the netdev into the pod, named, sized and up.
func (k *kernelVF) apply(rec *state.Record) (*current.Interface, error) {
	c, s := k.c, k.s
	if s.MAC != nil {
		err := sriov.SetMAC(k.ns.HostH, rec.NetdevOrig, s.MAC)
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			// The PF enforces an admin MAC on the VF: one that sriov-cni's
			// DEL left, or that a userspace VF's DEL wrote back as found
			// (the table cannot tell an admin MAC from the VF's own). Clear
			// it; the PF-side settings set the pod's next, and DEL ends
			// with none.
			cleared := *rec.PFOrig
			cleared.MAC = "00:00:00:00:00:00"
			if err = sriov.SetPFSettings(k.ns.HostH, k.pfLink, k.found.Index, rec.PFOrig, &cleared); err == nil {
				err = sriov.SetMAC(k.ns.HostH, rec.NetdevOrig, s.MAC)
			}
		}
		if err != nil {
			return nil, err
		}
		crash.Point("add/netdev-mac")
	}
	if err := k.applyPF(rec); err != nil {
		return nil, err
	}
	if err := sriov.MoveIn(k.ns, rec.PCI, rec.NetdevOrig, c.args.IfName, s.MTU); err != nil {
		return nil, err
	}
	link, err := k.ns.PodH.LinkByName(c.args.IfName)
	if err != nil {
		return nil, fmt.Errorf("reading %s in the pod: %w", c.args.IfName, err)
	}
	iface := &current.Interface{
		Name: c.args.IfName, Sandbox: c.args.Netns,
		Mac: link.Attrs().HardwareAddr.String(), Mtu: link.Attrs().MTU,
	}
	if ok, _ := version.GreaterThanOrEqualTo(c.conf.CNIVersion, "1.1.0"); ok {
		iface.PciID = rec.PCI
	}
	c.log.Debug("moved VF into the pod", "mac", iface.Mac, "mtu", iface.Mtu)
	crash.Point("add/moved")
	return iface, nil
}

// handOver configures the lease's addresses and routes on the netdev.
func (k *kernelVF) handOver(_ *state.Record, res, lease *current.Result) error {
	if lease == nil {
		return nil
	}
	own := &current.Result{
		CNIVersion: lease.CNIVersion, Interfaces: []*current.Interface{res.Interfaces[len(res.Interfaces)-1]},
		IPs: reindex(lease.IPs, 0), Routes: lease.Routes, DNS: lease.DNS,
	}
	announced, err := ipam.Configure(k.ns.PodH, k.ns.Pod, k.c.args.Netns, k.c.args.IfName, own)
	if err != nil {
		return err
	}
	k.c.log.Debug("configured addresses", "ips", len(own.IPs), "routes", len(own.Routes), "announced", announced)
	crash.Point("add/addresses")
	return nil
}

// undoKernelVF brings the netdev back to the host with its name, MAC and
// MTU, and the PF side as found: the PF side first, as igb refuses the
// VF's own MAC change while the PF's admin MAC stands.
func (c *call) undoKernelVF(rec *state.Record, netnsPath string) error {
	ns, err := openNamespaces(netnsPath, true)
	if err != nil {
		return err
	}
	defer closeNamespaces(ns)
	var errs []error
	var unpin func() error
	if rec.PFOrig != nil {
		unpin, err = restorePF(ns, rec)
		errs = append(errs, err)
		crash.Point("del/pf-side")
	}
	hostName, err := c.sysfs.Netdev(rec.PCI)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	err = sriov.Restore(ns, rec.PCI, rec.IfName, hostName, rec.NetdevOrig, unpin)
	if errors.Is(err, sriov.ErrNetdevGone) && hostName == "" && c.sysfs.Driver(rec.PCI) == rec.Driver {
		// Neither on the host nor in the pod, with its driver: in a
		// namespace that is dying, the pod's, after the runtime deleted
		// it. Wait for the kernel to return it, or DEL would restore the
		// PF side only and leave the netdev under its container name.
		if hostName, err = c.returnedNetdev(rec); err == nil {
			err = sriov.Restore(ns, rec.PCI, rec.IfName, hostName, rec.NetdevOrig, unpin)
		}
	}
	if errors.Is(err, sriov.ErrNetdevGone) {
		// Nothing left to restore (a stand-in link died with its
		// namespace, or the VF was removed): the rest still is ours.
		c.log.Warn("VF netdev not found; restoring the rest", "error", err)
		err = nil
		if unpin != nil {
			err = unpin()
		}
	}
	if err := errors.Join(append(errs, err)...); err != nil {
		return err
	}
	c.log.Debug("restored VF", "pf", rec.PF, "vf", rec.VFIndex, "mode", rec.Mode)
	return nil
}

// returnedNetdev waits for the kernel to return the VF's netdev to the host
// from a dying namespace, and names it there.
func (c *call) returnedNetdev(rec *state.Record) (string, error) {
	c.log.Info("waiting for the kernel to return the VF from the dead namespace")
	name, err := sriov.WaitHostNetdev(c.sysfs, rec.PCI, returnWait)
	if errors.Is(err, sriov.ErrNetdevGone) {
		return "", types.NewError(types.ErrTryAgainLater, err.Error(), "")
	}
	return name, err
}

// checkKernelVF verifies the PF side, the netdev in the pod, and its
// addresses and routes.
func (c *call) checkKernelVF(rec *state.Record, s *config.Settings, prev *current.Result) error {
	if err := checkPF(rec, s); err != nil {
		return err
	}
	iface, idx := findInterface(prev, c.args.IfName, c.args.Netns)
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
