package sriov

import (
	"path/filepath"

	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/pkg/config"
)

// Port is what the PF's netdev tells about its port, read before anything
// changes: whether the VF settings a config asks for can work at all.
//
// The plugin reads these sysfs files itself, under the node's sysfs root,
// rather than through sriovnet: sriovnet reads the fixed paths /sys/... (and
// cost the plugin binary 0.6-0.8 ms of CPU per call on this project's
// machine, for what is one file read here; see the README's libraries).
type Port struct {
	// SpeedMbps is the link speed the PF negotiated (net/<PF>/speed); 0 when
	// unknown: the link is down, or the driver reports none.
	SpeedMbps int
	// SwitchID is phys_switch_id: drivers show it while the PF's eswitch is
	// in switchdev mode (mlx5, ice, bnxt...), where VF settings through the
	// PF are refused or ignored; "" in legacy mode.
	SwitchID string
	// PortName is phys_port_name ("p0" for a switchdev uplink), "" if none.
	PortName string
	// Mode is the eswitch mode: "legacy" or "switchdev".
	Mode string
}

// Eswitch modes, as devlink names them.
const (
	EswitchLegacy    = "legacy"
	EswitchSwitchdev = "switchdev"
)

// ReadPort reads the port facts of the PF at pfPCI whose netdev is netdev.
// A PF showing a phys_switch_id is asked for its eswitch mode through
// devlink, since some drivers show one in legacy mode too; one that devlink
// does not know (an older kernel, or a driver without devlink) is taken to be
// in switchdev mode, as sriovnet does.
func (s Sysfs) ReadPort(pfPCI, netdev string) Port {
	p := Port{Mode: EswitchLegacy}
	dir := s.dev(pfPCI, "net", netdev)
	if n, err := s.readInt(pfPCI, filepath.Join("net", netdev, "speed")); err == nil && n > 0 {
		// A running PF without carrier shows -1; a stopped one fails.
		p.SpeedMbps = n
	}
	p.SwitchID = readTrimmed(filepath.Join(dir, "phys_switch_id"))
	p.PortName = readTrimmed(filepath.Join(dir, "phys_port_name"))
	if p.SwitchID != "" {
		p.Mode = EswitchSwitchdev
		if d, err := netlink.DevLinkGetDeviceByName("pci", pfPCI); err == nil && d.Attrs.Eswitch.Mode != "" {
			p.Mode = d.Attrs.Eswitch.Mode
		}
	}
	return p
}

// readTrimmed is a small sysfs attribute, "" when it is absent or the
// driver refuses it (mlx5 answers EOPNOTSUPP for phys_switch_id in legacy
// mode).
func readTrimmed(path string) string {
	v, _ := readSmall(path)
	return v
}

// FitPort refuses, with CNI error 7, settings that vf's PF cannot apply:
// a max_tx_rate above its link speed, or any PF-side setting while its
// eswitch is in switchdev mode. It reads sysfs only when the settings ask
// for something of the PF.
func (s Sysfs) FitPort(vf *VF, set *config.Settings) error {
	if !set.PFSideRequested() {
		return nil
	}
	p := s.ReadPort(vf.PFPCI, vf.PF)
	return set.FitPF(config.PFPort{
		Name: vf.PF, PCI: vf.PFPCI, SpeedMbps: p.SpeedMbps,
		Switchdev: p.Mode == EswitchSwitchdev, PortName: p.PortName,
	})
}
