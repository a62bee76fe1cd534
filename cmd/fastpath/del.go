package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/crash"
	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/pkg/ipam"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// cmdDel undoes an ADD from its record. It succeeds when called twice, when
// the pod's namespace is gone and when there is no record.
func cmdDel(args *skel.CmdArgs) error {
	c, err := begin(args)
	if err != nil {
		return err
	}
	if err := c.del(); err != nil {
		c.log.Error("DEL failed", "error", err)
		return cniError(err)
	}
	c.log.Info("DEL done")
	return nil
}

func (c *call) del() error {
	key := state.Key(c.conf.Name, c.args.ContainerID, c.args.IfName)
	rec, err := c.store.Load(key)
	if errors.Is(err, state.ErrCorrupt) {
		// A record we cannot read must not block the pod's removal: set it
		// aside and release what the runtime's config names.
		c.log.Error("corrupt record; releasing without it", "error", err)
		err = c.store.Quarantine(key, nil)
	}
	if err != nil {
		return err
	}
	if rec == nil {
		return c.delWithoutRecord()
	}
	return c.releaseLocked(rec, c.args.Netns)
}

// releaseLocked releases rec under its device's lock, re-reading it first:
// another DEL or GC may have released it while this call waited.
func (c *call) releaseLocked(rec *state.Record, netnsPath string) error {
	held, err := c.store.Lock(rec.Device, lockWait)
	if err != nil {
		return err
	}
	defer held.Unlock()
	if rec, err = c.store.Load(rec.Key()); err != nil || rec == nil {
		return err
	}
	return c.release(held, rec, netnsPath)
}

// release undoes everything an attachment did: the VF netdev back to the
// host with its name, MAC and MTU, the PF-side settings, the IPAM lease, the
// claim and the record. ADD's rollback, DEL, GC and reclaim all come here.
// It touches the device only while the record still owns it, so that a
// late DEL of an old pod never disturbs the VF's new owner. The caller
// holds the device's lock.
func (c *call) release(held *state.Held, rec *state.Record, netnsPath string) error {
	if netnsPath == "" {
		netnsPath = rec.NetNS
	}
	key := rec.Key()
	owner, err := c.store.Owner(rec.Device)
	if err != nil {
		return err
	}
	// The lease is released while the VF moves back, if the IPAM plugin
	// allows (see ipamAside); either way, both are tried.
	call := c.ipamCall(rec)
	ipamDel := func() (*current.Result, error) { return nil, call.Del(c.ctx) }
	var lease *ipamRun
	if ipamAside[call.Type] {
		lease = goIPAM(ipamDel)
	}
	var errs []error
	switch {
	case owner != key:
		c.log.Info("device no longer held by this attachment; leaving it", "owner", owner)
	default:
		errs = append(errs, c.undo(rec, netnsPath))
	}
	crash.Point("del/device")
	if call.Type != "" {
		if lease == nil {
			lease = goIPAM(ipamDel)
		}
		_, err := lease.wait()
		errs = append(errs, err)
	}
	errs = append(errs, devinfo.Remove(rec.DeviceInfoFile))
	if err := errors.Join(errs...); err != nil {
		// Keep the record: the runtime retries DEL, and GC finds it.
		return err
	}
	crash.Point("del/undone")
	if err := held.Release(key); err != nil {
		return err
	}
	crash.Point("del/released")
	return held.Remove(key)
}

// undo calls the undo of the record's mode (the record's decoder admits
// no other mode).
func (c *call) undo(rec *state.Record, netnsPath string) error {
	switch rec.Mode {
	case attach.ModeVhostUser:
		return c.undoVhost(rec)
	case attach.ModeUserspace:
		return c.undoUserspaceVF(rec)
	default:
		return c.undoKernelVF(rec, netnsPath)
	}
}

// delWithoutRecord handles DEL when fastpath holds no record: the ADD never
// happened, a DEL already ran, or the state directory was lost. The IPAM
// lease is released with the runtime's config; a VF that is still in a live
// pod under ifname is brought back to the host, since nothing else will.
func (c *call) delWithoutRecord() error {
	var errs []error
	s, err := c.conf.Resolve(c.cargs)
	if err == nil && c.conf.Mode != attach.ModeVhostUser && s.DeviceID != "" && attach.NetNSAlive(c.args.Netns) {
		errs = append(errs, c.evictUnrecorded(s.DeviceID))
	}
	if c.conf.IPAM.Type != "" {
		call := ipam.Call{Type: c.conf.IPAM.Type, Config: c.args.StdinData, ContainerID: c.args.ContainerID,
			NetNS: c.args.Netns, IfName: c.args.IfName, Args: c.args.Args}
		errs = append(errs, call.Del(c.ctx))
	}
	return errors.Join(errs...)
}

// evictUnrecorded moves an unrecorded VF out of the pod. Its original name is
// unknown, so it comes back as attach.ReturnedName.
func (c *call) evictUnrecorded(pci string) error {
	held, err := c.store.Lock(pci, lockWait)
	if err != nil {
		return err
	}
	defer held.Unlock()
	if owner, err := c.store.Owner(pci); err != nil || owner != "" {
		return err // somebody else's VF now
	}
	ns, err := openNamespaces(c.args.Netns, true)
	if err != nil {
		return err
	}
	defer closeNamespaces(ns)
	if ns.PodH == nil {
		return nil // the namespace died since DEL looked: the kernel returns the VF
	}
	l, err := sriov.FindInNS(ns, c.args.IfName, pci, 0)
	if err != nil || l == nil {
		return err // only a link that names this device is ours to move
	}
	name := attach.ReturnedName(pci)
	c.log.Warn("no record; returning the VF to the host and resetting what the config set", "netdev", name)
	err = sriov.Restore(ns, pci, c.args.IfName, "", &sriov.NetdevState{
		Name: name, MAC: l.Attrs().HardwareAddr.String(), MTU: l.Attrs().MTU,
	}, nil)
	return errors.Join(err, c.resetUnrecorded(ns, pci))
}

// resetUnrecorded puts the PF-side settings that the config names back to
// neutral: the original values died with the record, and a dead pod's VLAN
// must not stay on a VF that the device plugin hands out again.
func (c *call) resetUnrecorded(ns *sriov.Namespaces, pci string) error {
	s, err := c.conf.Resolve(c.cargs)
	if err != nil || !s.PFSideRequested() {
		return err
	}
	vf, err := c.sysfs.LookupVF(pci)
	if err != nil {
		return err
	}
	pf, cur, err := sriov.ReadPFSettings(ns.HostH, vf.PF, vf.Index)
	if err != nil {
		return err
	}
	return sriov.SetPFSettings(ns.HostH, pf, vf.Index, cur, sriov.Neutral(cur, s))
}

// cmdGC releases every attachment of this network that the runtime no longer
// lists as valid, continuing past errors, then lets IPAM collect its own.
func cmdGC(args *skel.CmdArgs) error {
	c, err := begin(args)
	if err != nil {
		return err
	}
	keys, err := c.store.List(c.conf.Name)
	if err != nil {
		return cniError(err)
	}
	var errs []error
	for _, key := range keys {
		if slices.ContainsFunc(c.conf.ValidAttachments, func(a types.GCAttachment) bool {
			return state.Key(c.conf.Name, a.ContainerID, a.IfName) == key
		}) {
			continue
		}
		c.log.Info("GC releasing attachment", "key", key)
		if err := c.gcOne(key); err != nil {
			errs = append(errs, fmt.Errorf("releasing %s: %w", key, err))
		}
	}
	errs = append(errs, c.gcOrphanPorts(func(cid, ifname string) bool {
		return slices.Contains(c.conf.ValidAttachments, types.GCAttachment{ContainerID: cid, IfName: ifname})
	}))
	if c.conf.IPAM.Type != "" {
		errs = append(errs, ipam.GC(c.ctx, c.conf.IPAM.Type, args.StdinData))
	}
	if err := errors.Join(errs...); err != nil {
		c.log.Error("GC failed", "error", err)
		return cniError(err)
	}
	return nil
}

func (c *call) gcOne(key string) error {
	rec, err := c.store.Load(key)
	if errors.Is(err, state.ErrCorrupt) {
		// Nothing can be undone from it; the lease at least is known.
		c.log.Error("corrupt record; releasing its lease only", "error", err)
		return errors.Join(c.store.Quarantine(key, nil), c.gcLease(key))
	}
	if err != nil || rec == nil {
		return err
	}
	return c.releaseLocked(rec, "")
}

// gcLease releases the IPAM lease of the attachment key names, with the
// runtime's GC config.
func (c *call) gcLease(key string) error {
	if c.conf.IPAM.Type == "" {
		return nil
	}
	_, att, _ := strings.Cut(key, "/")
	cid, ifname, _ := strings.Cut(att, ":")
	return ipam.Call{Type: c.conf.IPAM.Type, Config: c.args.StdinData, ContainerID: cid, IfName: ifname}.Del(c.ctx)
}
