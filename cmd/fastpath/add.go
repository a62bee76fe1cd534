package main

import (
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/crash"
	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/pkg/ipam"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// A mode is one kind of attachment's part in the life cycle that add(),
// release() and check() run for every kind. Each mode's file holds its ADD
// steps, their undo and their CHECK side by side: kernelvf.go (a VF's
// netdev moved into the pod), uservf.go (a VF on a userspace driver, left
// where the device plugin mounted it), vhost.go (a vhost-user socket in the
// pod's directory); vf.go holds the PF side that both VF modes set.
type mode interface {
	// name is the mode's name in records (attach.Mode*).
	name() string
	// inspect reads, under the device's lock and before anything changes,
	// what apply will change into rec's mode members, for the undo.
	inspect(rec *state.Record) error
	// apply makes the attachment and returns the pod's interface.
	apply(rec *state.Record) (*current.Interface, error)
	// handOver gives the pod, or its app, the result: lease is the IPAM
	// plugin's part of res, nil without IPAM.
	handOver(rec *state.Record, res, lease *current.Result) error
	// deviceInfo is what the device-info file tells the pod's app.
	deviceInfo(rec *state.Record) devinfo.Info
}

// cmdAdd gives the pod its VF or socket. Each step that changes the host
// has its undo in the deferred release: on any error the device, its
// settings and the IPAM lease end as they were found.
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
	var m mode
	device := s.DeviceID
	if c.conf.Mode == attach.ModeVhostUser {
		v, err := c.newVhostUser(s, infoFile)
		if err != nil {
			return nil, err
		}
		m, device = v, v.device
	} else if device == "" {
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

	// 2. Own the device for the whole call.
	key, held, err := c.own(device)
	if err != nil {
		return nil, err
	}
	defer held.Unlock()

	// 3. A VF's bound driver decides its mode.
	if m == nil {
		if m, err = c.newVF(s, ns, device); err != nil {
			return nil, err
		}
	}

	// 4. Record the original state, then claim the device.
	rec := c.newRecord(m.name(), device, s.DeviceInfoFile)
	if err := m.inspect(rec); err != nil {
		return nil, err
	}
	if err := held.Save(rec); err != nil {
		return nil, err
	}
	crash.Point("add/recorded")
	if err := held.Claim(key); err != nil {
		return nil, errors.Join(err, held.Remove(key))
	}
	crash.Point("add/claimed")
	c.log.Debug("recorded and claimed", "device", device)
	// From here on, release undoes the attachment if ADD fails: the IPAM
	// call first finishes, so that its lease too is released.
	var run *ipamRun
	defer func() {
		if err != nil {
			c.log.Warn("rolling back ADD", "error", err)
			run.wait()
			err = errors.Join(err, c.release(held, rec, c.args.Netns))
		}
	}()

	// 5. The mode's step, with the IPAM plugin running alongside if it can.
	if ipamAside[c.conf.IPAM.Type] {
		run = c.startIPAMAdd(rec)
	}
	iface, err := m.apply(rec)
	if err != nil {
		return nil, err
	}
	res := c.newResult(iface)

	// 6. Addresses, and the result handed over.
	var lease *current.Result
	if c.conf.IPAM.Type != "" {
		if run == nil {
			run = c.startIPAMAdd(rec)
		}
		if lease, err = run.wait(); err != nil {
			return nil, err
		}
		crash.Point("add/ipam")
		addLease(res, lease)
	}
	if err := m.handOver(rec, res, lease); err != nil {
		return nil, err
	}

	// 7. Tell the pod's app which device it got.
	if s.DeviceInfoFile != "" {
		if err := devinfo.Write(s.DeviceInfoFile, m.deviceInfo(rec)); err != nil {
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
