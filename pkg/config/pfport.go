package config

import (
	"fmt"
	"strings"

	"github.com/fastpath-cni/fastpath/pkg/attach"
)

// PFPort is what a VF's PF says about its port before anything changes
// (pkg/sriov reads it): the facts that decide whether the PF can apply the
// PF-side settings at all.
type PFPort struct {
	Name, PCI string // the PF's netdev and PCI address
	SpeedMbps int    // negotiated link speed, 0 when unknown
	Switchdev bool   // its eswitch is in switchdev mode
	PortName  string // phys_port_name, "" if none
}

// FitPF refuses, with code 7, PF-side settings that the PF would refuse or
// ignore half-way through ADD: any of them on a PF in switchdev mode, and a
// max_tx_rate above its link speed. A speed that is unknown (link down)
// leaves the rate to the driver.
func (s *Settings) FitPF(pf PFPort) error {
	if pf.Switchdev {
		fields := s.pfSideFields()
		if len(fields) == 0 {
			return nil
		}
		port := ""
		if pf.PortName != "" {
			port = ", uplink port " + pf.PortName
		}
		return invalid(fields[0].name, fields[0].value, fmt.Sprintf(
			"PF %s (%s%s) is in switchdev mode, and fastpath applies VF settings through the PF in legacy mode only: leave out %s (in switchdev mode the VF's representor carries them), or set the PF's eswitch to legacy (devlink dev eswitch set pci/%s mode legacy)",
			pf.Name, pf.PCI, port, strings.Join(names(fields), ", "), pf.PCI))
	}
	if s.MaxTxRate != nil && pf.SpeedMbps > 0 && *s.MaxTxRate > uint32(pf.SpeedMbps) {
		return invalid("max_tx_rate", fmt.Sprint(*s.MaxTxRate), fmt.Sprintf(
			"more than the link speed %d Mb/s of PF %s (%s)", pf.SpeedMbps, pf.Name, pf.PCI))
	}
	return nil
}

type fieldValue struct{ name, value string }

// pfSideFields are the settings that go through the PF, as the config
// names them, with their values.
func (s *Settings) pfSideFields() []fieldValue {
	var out []fieldValue
	add := func(name string, set bool, value func() string) {
		if set {
			out = append(out, fieldValue{name, value()})
		}
	}
	add("mac", s.MAC != nil, func() string { return s.MAC.String() })
	add("vlan", s.Vlan != nil, func() string { return fmt.Sprint(*s.Vlan) })
	add("vlanQoS", s.VlanQoS != nil, func() string { return fmt.Sprint(*s.VlanQoS) })
	add("vlanProto", s.VlanProto != nil, func() string {
		if *s.VlanProto == 0x88a8 {
			return VlanProto8021AD
		}
		return VlanProto8021Q
	})
	add("spoofchk", s.SpoofChk != nil, func() string { return onOffString(*s.SpoofChk) })
	add("trust", s.Trust != nil, func() string { return onOffString(*s.Trust) })
	add("link_state", s.LinkState != nil, func() string { return attach.LinkStateName(*s.LinkState) })
	add("min_tx_rate", s.MinTxRate != nil, func() string { return fmt.Sprint(*s.MinTxRate) })
	add("max_tx_rate", s.MaxTxRate != nil, func() string { return fmt.Sprint(*s.MaxTxRate) })
	return out
}

func names(fs []fieldValue) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

func onOffString(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
