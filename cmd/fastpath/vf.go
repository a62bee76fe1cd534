package main

import (
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/crash"
	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// vf is what both VF modes share: the VF found under its lock, and its
// PF's side (VLAN, QoS, spoof check, trust, link state, rates, admin MAC),
// set in the PF's VF table.
type vf struct {
	c     *call
	s     *config.Settings
	ns    *sriov.Namespaces
	found *sriov.VF
	// pfLink is the PF, read with its VF table when the config asks for a
	// PF-side setting.
	pfLink netlink.Link
}

// newVF finds the VF at pci; its bound driver decides the mode.
func (c *call) newVF(s *config.Settings, ns *sriov.Namespaces, pci string) (mode, error) {
	info, err := c.sysfs.LookupVF(pci)
	if err != nil {
		return nil, err
	}
	m, err := attach.VFMode(info.PCI, info.Driver, info.Netdev)
	if err != nil {
		return nil, err
	}
	// Every later line, "ADD done" and any error included, names the VF.
	c.log = c.log.With("pf", info.PF, "vf", info.Index, "mode", m)
	c.log.Debug("found VF", "netdev", info.Netdev, "driver", info.Driver)
	if err := c.sysfs.FitPort(info, s); err != nil {
		return nil, err
	}
	v := vf{c: c, s: s, ns: ns, found: info}
	if m == attach.ModeUserspace {
		return &userspaceVF{v}, nil
	}
	if err := openPodHandle(ns, c.args.Netns); err != nil {
		return nil, err
	}
	return &kernelVF{v}, nil
}

// inspectPF records the VF and, when the config asks for a PF-side
// setting, the PF's VF table entry (the one read of it this ADD makes).
func (v *vf) inspectPF(rec *state.Record) (err error) {
	rec.PCI, rec.PF, rec.PFPCI, rec.VFIndex, rec.Driver = v.found.PCI, v.found.PF, v.found.PFPCI, v.found.Index, v.found.Driver
	if v.s.PFSideRequested() {
		v.pfLink, rec.PFOrig, err = sriov.ReadPFSettings(v.ns.HostH, v.found.PF, v.found.Index)
	}
	return err
}

// applyPF sets the PF-side settings, from the recorded state, not a fresh
// read: the netdev's own MAC change may already show in the PF's table,
// and the admin MAC must be set all the same, so that the VF cannot change
// it.
func (v *vf) applyPF(rec *state.Record) error {
	if rec.PFOrig == nil {
		return nil
	}
	if err := sriov.SetPFSettings(v.ns.HostH, v.pfLink, v.found.Index, rec.PFOrig, sriov.Desired(rec.PFOrig, v.s)); err != nil {
		return err
	}
	v.c.log.Debug("applied PF-side settings")
	crash.Point("add/pf-side")
	return nil
}

func (v *vf) deviceInfo(rec *state.Record) devinfo.Info {
	return devinfo.ForPCI(rec.PCI, rec.PFPCI)
}

// restorePF puts the PF-side settings back. When the PF listed the VF's own
// address, not an admin one, and ADD set a MAC, the end state is no admin
// MAC at all (an admin MAC pins the address: igb then refuses the VF any MAC
// change, and the next pod's `mac` with trust off fails): the admin MAC is
// cleared, as libvirt does, and the netdev sets its own MAC again, which the
// PF then lists as before. For a driver that takes the PF's MAC when it
// resets (sriov.ResetTakesPFMAC), the original MAC is first pinned, untrusted,
// so that the reset of the move out gives the netdev its original address and
// permanent address back without a reset of its own (an open and a close),
// and the returned unpin clears it once the netdev is on the host. unpin is
// nil when there is nothing to clear then.
func restorePF(ns *sriov.Namespaces, rec *state.Record) (unpin func() error, err error) {
	pf, cur, err := sriov.ReadPFSettings(ns.HostH, rec.PF, rec.VFIndex)
	if err != nil {
		return nil, err
	}
	want := *rec.PFOrig
	own := rec.NetdevOrig != nil && want.MAC == rec.NetdevOrig.MAC
	if !own || !sriov.ResetTakesPFMAC(rec.Driver) || (cur.MAC == want.MAC && !macRequested(rec)) {
		if own && cur.MAC != want.MAC {
			want.MAC = "00:00:00:00:00:00" // restoring the netdev's MAC hands it back
		}
		return nil, sriov.SetPFSettings(ns.HostH, pf, rec.VFIndex, cur, &want)
	}
	final := want
	final.MAC = "00:00:00:00:00:00"
	// Untrusted while pinned: a trusted VF's reset would hand its pod
	// address to the PF instead of taking the pinned one.
	want.Trust = false
	if err := sriov.SetPFSettings(ns.HostH, pf, rec.VFIndex, cur, &want); err != nil {
		return nil, err
	}
	return func() error { return sriov.SetPFSettings(ns.HostH, pf, rec.VFIndex, &want, &final) }, nil
}

// macRequested tells whether rec's ADD set a MAC, from its own config and
// CNI_ARGS. A DEL retried after a crash finds the original MAC pinned, which
// the PF lists as it listed the VF's own: only this tells that it must be
// cleared. When unsure, it says yes: clearing costs a little time only.
func macRequested(rec *state.Record) bool {
	conf, err := config.Parse(rec.Config)
	if err != nil {
		return true
	}
	args, err := config.ParseArgs(rec.Args)
	if err != nil {
		return true
	}
	mac, err := conf.ResolveMAC(args)
	return err != nil || mac != nil
}

// checkPF verifies the PF side against the config.
func checkPF(rec *state.Record, s *config.Settings) error {
	if !s.PFSideRequested() {
		return nil
	}
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
