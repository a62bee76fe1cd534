package main

import (
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/crash"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// userspaceVF is a VF on a userspace driver (vfio-pci and the like): the
// device plugin mounted it into the pod and its app drives it, so fastpath
// sets the PF side only and reports the VF's PCI address and the lease.
type userspaceVF struct{ vf }

func (*userspaceVF) name() string { return attach.ModeUserspace }

func (u *userspaceVF) inspect(rec *state.Record) error { return u.inspectPF(rec) }

func (u *userspaceVF) apply(rec *state.Record) (*current.Interface, error) {
	if u.s.MTU != 0 {
		u.c.log.Warn("mtu is not applied to a VF on a userspace driver: its app sets it", "mtu", u.s.MTU)
	}
	if err := u.applyPF(rec); err != nil {
		return nil, err
	}
	iface := &current.Interface{Name: u.c.args.IfName, Sandbox: u.c.args.Netns}
	if u.s.MAC != nil {
		iface.Mac = u.s.MAC.String()
	}
	if ok, _ := version.GreaterThanOrEqualTo(u.c.conf.CNIVersion, "1.1.0"); ok {
		iface.PciID = rec.PCI
	}
	return iface, nil
}

// handOver has nothing to do: the app configures its addresses itself,
// from the result.
func (*userspaceVF) handOver(*state.Record, *current.Result, *current.Result) error { return nil }

// undoUserspaceVF puts the PF side back; the VF never was in the pod's
// namespace.
func (c *call) undoUserspaceVF(rec *state.Record) error {
	if rec.PFOrig == nil {
		return nil
	}
	ns, err := openNamespaces("", false)
	if err != nil {
		return err
	}
	defer closeNamespaces(ns)
	_, err = restorePF(ns, rec)
	if err == nil {
		crash.Point("del/pf-side")
		c.log.Debug("restored VF", "pf", rec.PF, "vf", rec.VFIndex, "mode", rec.Mode)
	}
	return err
}

// checkUserspaceVF verifies the PF side and that the app's driver, which
// owns the device, is still the one ADD found.
func (c *call) checkUserspaceVF(rec *state.Record, s *config.Settings) error {
	if err := checkPF(rec, s); err != nil {
		return err
	}
	if d := c.sysfs.Driver(rec.PCI); d != rec.Driver {
		return checkFailed("VF %s is bound to %q, want %q", rec.PCI, d, rec.Driver)
	}
	return nil
}
