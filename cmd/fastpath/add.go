package main

import (
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/crash"
	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/pkg/ipam"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// cmdAdd gives the pod its VF. Each step that changes the host has its undo
// in the deferred release: on any error the VF, its settings and the IPAM
// lease end as they were found.
func cmdAdd(args *skel.CmdArgs) error {
	c, err := begin(args)
	if err != nil {
		return err
	}
	res, err := c.add()
	if err != nil {
		c.log.Error("ADD failed", "error", err)
		return cniError(err)
	}
	c.log.Info("ADD done", "ips", len(res.IPs))
	return types.PrintResult(res, c.conf.CNIVersion)
}

func (c *call) add() (_ *current.Result, err error) {
	// 1. Validate everything before touching the host.
	s, err := c.conf.Resolve(c.cargs)
	if err != nil {
		return nil, err
	}
	infoFile := s.DeviceInfoFile
	s.DeviceInfoFile = ownDeviceInfo(infoFile)
	if c.conf.Mode == attach.ModeVhostUser {
		return c.addVhost(s, infoFile)
	}
	if s.DeviceID == "" {
		return nil, types.NewError(types.ErrInvalidNetworkConfig,
			`missing deviceID: set "deviceID" (Multus does, from the device plugin), runtimeConfig.deviceID or "pciBusID"`, "")
	}
	ns, err := openNamespaces(c.args.Netns, false)
	if err != nil {
		return nil, err
	}
	defer closeNamespaces(ns)
	if err := checkPodNetNS(ns, c.args.Netns); err != nil {
		return nil, err
	}

	// 2. Own the VF for the whole call.
	key, held, err := c.own(s.DeviceID)
	if err != nil {
		return nil, err
	}
	defer held.Unlock()

	// 3. Find the VF; its bound driver decides the mode.
	vf, err := c.sysfs.LookupVF(s.DeviceID)
	if err != nil {
		return nil, err
	}
	mode, err := attach.VFMode(vf.PCI, vf.Driver, vf.Netdev)
	if err != nil {
		return nil, err
	}
	// Every later line, "ADD done" and any error included, names the VF.
	c.log = c.log.With("pf", vf.PF, "vf", vf.Index, "mode", mode)
	c.log.Debug("found VF", "netdev", vf.Netdev, "driver", vf.Driver)
	if err := c.sysfs.FitPort(vf, s); err != nil {
		return nil, err
	}
	if mode == attach.ModeKernel {
		if err := openPodHandle(ns, c.args.Netns); err != nil {
			return nil, err
		}
	}
	if mode == attach.ModeUserspace && s.MTU != 0 {
		c.log.Warn("mtu is not applied to a VF on a userspace driver: its app sets it", "mtu", s.MTU)
	}

	// 4. Record the original state, then claim the VF.
	rec := c.newRecord(mode, vf.PCI, s.DeviceInfoFile)
	rec.PCI, rec.PF, rec.PFPCI, rec.VFIndex, rec.Driver = vf.PCI, vf.PF, vf.PFPCI, vf.Index, vf.Driver
	var pfLink netlink.Link
	if s.PFSideRequested() {
		// The one read of the PF's VF table this ADD makes.
		if pfLink, rec.PFOrig, err = sriov.ReadPFSettings(ns.HostH, vf.PF, vf.Index); err != nil {
			return nil, err
		}
	}
	if mode == attach.ModeKernel {
		if rec.NetdevOrig, err = sriov.ReadOwnNetdev(ns, vf); err != nil {
			return nil, err
		}
	}
	if err := recordAndClaim(held, rec, key); err != nil {
		return nil, err
	}
	c.log.Debug("recorded VF")
	var lease *ipamRun
	defer c.rollbackOnError(&err, held, rec, &lease)

	// 5. The netdev's MAC, then the PF-side settings (see sriov.SetMAC).
	if s.MAC != nil && mode == attach.ModeKernel {
		err := sriov.SetMAC(ns.HostH, rec.NetdevOrig, s.MAC)
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			// The PF enforces an admin MAC on the VF: one that sriov-cni's
			// DEL left, or that a userspace VF's DEL wrote back as found
			// (the table cannot tell an admin MAC from the VF's own). Clear
			// it; the PF-side settings set the pod's next, and DEL ends
			// with none.
			cleared := *rec.PFOrig
			cleared.MAC = "00:00:00:00:00:00"
			if err = sriov.SetPFSettings(ns.HostH, pfLink, vf.Index, rec.PFOrig, &cleared); err == nil {
				err = sriov.SetMAC(ns.HostH, rec.NetdevOrig, s.MAC)
			}
		}
		if err != nil {
			return nil, err
		}
		crash.Point("add/netdev-mac")
	}
	if rec.PFOrig != nil {
		// From the recorded state, not a fresh read: the netdev's own MAC
		// change may already show in the PF's table, and the admin MAC must
		// be set all the same, so that the VF cannot change it.
		if err := sriov.SetPFSettings(ns.HostH, pfLink, vf.Index, rec.PFOrig, sriov.Desired(rec.PFOrig, s)); err != nil {
			return nil, err
		}
		c.log.Debug("applied PF-side settings")
		crash.Point("add/pf-side")
	}

	// 6. A kernel VF moves into the pod, named, sized and up, while the
	// IPAM plugin runs if it can; a userspace VF stays where the device
	// plugin mounted it.
	if mode == attach.ModeKernel && ipamAside[c.conf.IPAM.Type] {
		lease = c.startIPAMAdd(rec)
	}
	iface := &current.Interface{Name: c.args.IfName, Sandbox: c.args.Netns}
	if s.MAC != nil {
		iface.Mac = s.MAC.String()
	}
	if mode == attach.ModeKernel {
		if err := sriov.MoveIn(ns, vf.PCI, rec.NetdevOrig, c.args.IfName, s.MTU); err != nil {
			return nil, err
		}
		link, err := ns.PodH.LinkByName(c.args.IfName)
		if err != nil {
			return nil, fmt.Errorf("reading %s in the pod: %w", c.args.IfName, err)
		}
		iface.Mac, iface.Mtu = link.Attrs().HardwareAddr.String(), link.Attrs().MTU
		c.log.Debug("moved VF into the pod", "mac", iface.Mac, "mtu", iface.Mtu)
		crash.Point("add/moved")
	}
	if ok, _ := version.GreaterThanOrEqualTo(c.conf.CNIVersion, "1.1.0"); ok {
		iface.PciID = vf.PCI
	}
	res := c.newResult(iface)

	// 7. Addresses: configured on a kernel VF, reported for a userspace one
	// (its app configures them itself).
	if c.conf.IPAM.Type != "" {
		ipamRes, err := c.leaseOf(rec, lease)
		if err != nil {
			return nil, err
		}
		if mode == attach.ModeKernel {
			own := ownResult(iface, ipamRes)
			announced, err := ipam.Configure(ns.PodH, ns.Pod, c.args.Netns, c.args.IfName, own)
			if err != nil {
				return nil, err
			}
			c.log.Debug("configured addresses", "ips", len(own.IPs), "routes", len(own.Routes), "announced", announced)
			crash.Point("add/addresses")
		}
		addLease(res, ipamRes)
	}

	// 8. Tell the pod's app which device it got.
	if s.DeviceInfoFile != "" {
		if err := devinfo.Write(s.DeviceInfoFile, devinfo.ForPCI(vf.PCI, vf.PFPCI)); err != nil {
			return nil, err
		}
		crash.Point("add/device-info")
	}
	return res, nil
}

// own locks device for the rest of the call and makes sure this attachment
// is new and the device free (reclaimed from a dead pod if need be). It
// returns the attachment's key and the held lock.
func (c *call) own(device string) (string, *state.Held, error) {
	held, err := c.store.Lock(device, lockWait)
	if err != nil {
		return "", nil, err
	}
	crash.Point("add/locked")
	key := state.Key(c.conf.Name, c.args.ContainerID, c.args.IfName)
	old, err := c.store.Load(key)
	if err == nil && old != nil {
		err = fmt.Errorf("attachment %s exists already, on %s: %w", key, old.Device, errAttached)
	}
	if err == nil {
		err = c.reclaimStale(held, device)
	}
	if err != nil {
		held.Unlock()
		return "", nil, err
	}
	return key, held, nil
}

// reclaimStale frees a device whose recorded owner's namespace is gone (a
// pod whose DEL never came, a node that rebooted); a live owner is an error.
func (c *call) reclaimStale(held *state.Held, device string) error {
	owner, err := c.store.Owner(device)
	if err != nil || owner == "" {
		return err
	}
	rec, err := c.store.Load(owner)
	if errors.Is(err, state.ErrCorrupt) {
		c.log.Error("the device's owner has a corrupt record; setting it aside", "owner", owner, "error", err)
		return c.store.Quarantine(owner, held)
	}
	if err != nil {
		return err
	}
	if rec == nil {
		c.log.Warn("dropping a claim without a record", "owner", owner)
		return held.Release(owner)
	}
	if attach.NetNSAlive(rec.NetNS) {
		return fmt.Errorf("%s belongs to container %s as %s in %s: %w", device, rec.ContainerID, rec.IfName, rec.NetNS, errAttached)
	}
	c.log.Warn("reclaiming a device from a dead namespace", "owner", owner, "netns", rec.NetNS)
	return c.release(held, rec, "")
}

// newRecord is the record of this call's attachment in mode on device,
// before the mode's own members.
func (c *call) newRecord(mode, device, deviceInfoFile string) *state.Record {
	return &state.Record{
		Network: c.conf.Name, ContainerID: c.args.ContainerID, IfName: c.args.IfName, NetNS: c.args.Netns,
		Mode: mode, Device: device, DeviceInfoFile: deviceInfoFile, Config: c.args.StdinData, Args: c.args.Args,
	}
}

// recordAndClaim writes the record, then claims its device for it: from
// here on, release undoes the attachment.
func recordAndClaim(held *state.Held, rec *state.Record, key string) error {
	if err := held.Save(rec); err != nil {
		return err
	}
	crash.Point("add/recorded")
	if err := held.Claim(key); err != nil {
		return errors.Join(err, held.Remove(key))
	}
	crash.Point("add/claimed")
	return nil
}

// rollbackOnError, deferred by ADD once recorded, undoes the attachment
// when ADD fails: the IPAM call first finishes, so that its lease too is
// released, not left to come later.
func (c *call) rollbackOnError(err *error, held *state.Held, rec *state.Record, lease **ipamRun) {
	if *err == nil {
		return
	}
	c.log.Warn("rolling back ADD", "error", *err)
	(*lease).wait()
	*err = errors.Join(*err, c.release(held, rec, c.args.Netns))
}

// leaseOf is the IPAM result: of lease, running since the mode's step
// began, or of a call started now.
func (c *call) leaseOf(rec *state.Record, lease *ipamRun) (*current.Result, error) {
	if lease == nil {
		lease = c.startIPAMAdd(rec)
	}
	r, err := lease.wait()
	if err == nil {
		crash.Point("add/ipam")
	}
	return r, err
}

// addLease adds the IPAM result's addresses, routes and DNS to res, for its
// last interface.
func addLease(res, ipamRes *current.Result) {
	res.IPs = append(res.IPs, reindex(ipamRes.IPs, len(res.Interfaces)-1)...)
	res.Routes = append(res.Routes, ipamRes.Routes...)
	if len(ipamRes.DNS.Nameservers) > 0 {
		res.DNS = ipamRes.DNS
	}
}

// newResult starts the result from prevResult (when chained) and appends
// iface.
func (c *call) newResult(iface *current.Interface) *current.Result {
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion, DNS: c.conf.DNS}
	if c.conf.PrevResult != nil {
		if prev, err := current.NewResultFromResult(c.conf.PrevResult); err == nil {
			res = prev
		}
	}
	res.Interfaces = append(res.Interfaces, iface)
	return res
}

// ownResult is the IPAM result narrowed to the VF's interface, as
// ConfigureIface wants it.
func ownResult(iface *current.Interface, r *current.Result) *current.Result {
	return &current.Result{
		CNIVersion: r.CNIVersion, Interfaces: []*current.Interface{iface},
		IPs: reindex(r.IPs, 0), Routes: r.Routes, DNS: r.DNS,
	}
}

func reindex(ips []*current.IPConfig, idx int) []*current.IPConfig {
	out := make([]*current.IPConfig, len(ips))
	for i, ipc := range ips {
		cp := *ipc
		cp.Interface = current.Int(idx)
		out[i] = &cp
	}
	return out
}

// ipamAside names the IPAM plugins that never look at the pod's interface,
// which ADD and DEL run while they move the VF: the plugin is a process of
// its own, and the kernel's part of a move is mostly waiting (in the
// emulated test guest this hid host-local's ~45 ms behind the VF's ~100 ms).
// Any other plugin (dhcp runs a client on the interface) runs once the VF is
// in place for ADD, and after it left for DEL.
var ipamAside = map[string]bool{"host-local": true, "static": true, "whereabouts": true}

// ipamRun is an IPAM call running in its own goroutine. wait returns its
// outcome; on a nil *ipamRun (none started) it returns nothing at once.
type ipamRun struct {
	done chan struct{}
	res  *current.Result
	err  error
}

func goIPAM(f func() (*current.Result, error)) *ipamRun {
	r := &ipamRun{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = f()
	}()
	return r
}

func (r *ipamRun) wait() (*current.Result, error) {
	if r == nil {
		return nil, nil
	}
	<-r.done
	return r.res, r.err
}

func (c *call) startIPAMAdd(rec *state.Record) *ipamRun {
	return goIPAM(func() (*current.Result, error) { return c.ipamCall(rec).Add(c.ctx) })
}

// ipamCall addresses the IPAM plugin of the record's own config: GC and
// reclaim release leases of attachments made under another config.
func (c *call) ipamCall(rec *state.Record) ipam.Call {
	typ := c.conf.IPAM.Type
	if conf, err := config.Parse(rec.Config); err == nil {
		typ = conf.IPAM.Type
	}
	return ipam.Call{
		Type: typ, Config: rec.Config, ContainerID: rec.ContainerID,
		NetNS: rec.NetNS, IfName: rec.IfName, Args: rec.Args,
	}
}
