package sriov

import (
	"fmt"

	"github.com/safchain/ethtool"
	"github.com/vishvananda/netlink"
)

// LinkInfo is what a netdev's driver reports through ethtool, as
// `ethtool -i NAME` (driver, firmware, bus-info) and `ethtool NAME` (speed,
// duplex, link detected) show it: what an operator checks first when a
// pod's network is dead.
type LinkInfo struct {
	Driver   string `json:"driver"`
	Version  string `json:"version"`
	Firmware string `json:"firmware"`
	BusInfo  string `json:"busInfo"`
	// SpeedMbps is 0 when the driver knows none (link down).
	SpeedMbps uint32 `json:"speedMbps"`
	// Duplex is "full", "half", or "" when unknown.
	Duplex string `json:"duplex"`
	// Link is ethtool's "Link detected".
	Link bool `json:"link"`
}

// ReadLinkInfo asks the driver of netdev name, in this namespace. Drivers
// without link settings (a VF's often) leave speed and duplex unknown.
func ReadLinkInfo(name string) (*LinkInfo, error) {
	e, err := ethtool.NewEthtool()
	if err != nil {
		return nil, fmt.Errorf("opening ethtool: %w", err)
	}
	defer e.Close()
	d, err := e.DriverInfo(name)
	if err != nil {
		return nil, fmt.Errorf("ethtool driver info of %s: %w", name, err)
	}
	li := &LinkInfo{Driver: d.Driver, Version: d.Version, Firmware: d.FwVersion, BusInfo: d.BusInfo}
	link, err := e.LinkState(name)
	if err != nil {
		return nil, fmt.Errorf("ethtool link state of %s: %w", name, err)
	}
	li.Link = link != 0
	if ls, err := e.GetLinkSettings(name); err == nil {
		// The kernel's SPEED_UNKNOWN and DUPLEX_UNKNOWN are all ones.
		if ls.Speed != 0 && ls.Speed != ^uint32(0) {
			li.SpeedMbps = ls.Speed
		}
		switch ls.Duplex {
		case 0:
			li.Duplex = "half"
		case 1:
			li.Duplex = "full"
		}
		if li.SpeedMbps == 0 {
			li.Duplex = ""
		}
	}
	return li, nil
}

// VFCounters are a VF's traffic counters as its PF counts them (the
// IFLA_VF_STATS of the PF's VF table, `ip -s link show PF`). Drivers without
// per-VF statistics (igb) report zeros.
type VFCounters struct {
	RxPackets uint64 `json:"rxPackets"`
	RxBytes   uint64 `json:"rxBytes"`
	RxDropped uint64 `json:"rxDropped"`
	Multicast uint64 `json:"multicast"`
	Broadcast uint64 `json:"broadcast"`
	TxPackets uint64 `json:"txPackets"`
	TxBytes   uint64 `json:"txBytes"`
	TxDropped uint64 `json:"txDropped"`
}

func countersOf(v netlink.VfInfo) *VFCounters {
	return &VFCounters{
		RxPackets: v.RxPackets, RxBytes: v.RxBytes, RxDropped: v.RxDropped,
		Multicast: v.Multicast, Broadcast: v.Broadcast,
		TxPackets: v.TxPackets, TxBytes: v.TxBytes, TxDropped: v.TxDropped,
	}
}
