package main

import (
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/pkg/ipam"
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
	if iface, _ := findInterface(prev, c.args.IfName, c.args.Netns); iface == nil {
		return checkFailed("prevResult lists no interface %s in %s", c.args.IfName, c.args.Netns)
	}
	if rec.DeviceInfoFile != "" {
		if _, err := devinfo.Read(rec.DeviceInfoFile); err != nil {
			return checkFailed("%v", err)
		}
	}
	// The record's mode, whose decoder admits no other.
	switch rec.Mode {
	case attach.ModeVhostUser:
		err = c.checkVhost(rec)
	case attach.ModeUserspace:
		err = c.checkUserspaceVF(rec, s)
	default:
		err = c.checkKernelVF(rec, s, prev)
	}
	if err != nil {
		return err
	}
	if call := c.ipamCall(rec); call.Type != "" {
		return call.Check(c.ctx)
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
		vf, err := c.sysfs.LookupVF(pci)
		if err != nil {
			return types.NewError(types.ErrPluginNotAvailable, err.Error(), "")
		}
		// What ADD would refuse of this PF, STATUS refuses too (code 7).
		if err := c.sysfs.FitPort(vf, s); err != nil {
			return err
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
