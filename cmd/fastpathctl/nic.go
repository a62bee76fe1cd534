package main

import (
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// NIC facts: what the PF's and the VF's drivers report (ethtool), the PF's
// eswitch mode, and the VF counters of the PF's VF table.

// PFDetail is one SR-IOV enabled PF: sysfs, its driver and its port.
type PFDetail struct {
	PCI      string `json:"pci"`
	Netdev   string `json:"netdev"`
	Driver   string `json:"driver"` // the bound PCI driver (sysfs)
	NumVFs   int    `json:"numVFs"`
	TotalVFs int    `json:"totalVFs"`
	// Link is what its driver reports (`ethtool -i`, `ethtool PF`); nil
	// when it could not be read, and LinkError says why.
	Link      *sriov.LinkInfo `json:"link"`
	LinkError string          `json:"linkError,omitempty"`
	// Eswitch is "legacy" or "switchdev"; SwitchID and PortName are the
	// netdev's phys_switch_id and phys_port_name, "" if none.
	Eswitch  string `json:"eswitch"`
	SwitchID string `json:"switchID,omitempty"`
	PortName string `json:"portName,omitempty"`
	// VFs, for `show PF`: each VF with its counters as the PF counts them.
	VFs []PFVFRow `json:"vfs,omitempty"`
}

// PFVFRow is one VF of a PF in `show PF`.
type PFVFRow struct {
	VFRow
	Counters *sriov.VFCounters `json:"counters"`
}

// readNIC asks the PF's driver and port, once per PF.
func (inv *inventory) readNIC(p *pfInfo) {
	p.Detail = PFDetail{PCI: p.PCI, Netdev: p.Netdev, Driver: p.Driver, NumVFs: p.NumVFs, TotalVFs: p.TotalVFs, Eswitch: "-"}
	if p.Netdev == "" {
		p.Detail.LinkError = "the PF has no netdev in this namespace"
		return
	}
	port := inv.sysfs.ReadPort(p.PCI, p.Netdev)
	p.Detail.Eswitch, p.Detail.SwitchID, p.Detail.PortName = port.Mode, port.SwitchID, port.PortName
	var err error
	if p.Detail.Link, err = sriov.ReadLinkInfo(p.Netdev); err != nil {
		p.Detail.LinkError = err.Error()
	}
}

// netdevLink is what the driver of a VF's host netdev reports, nil when the
// netdev is not in this namespace or does not answer.
func (inv *inventory) netdevLink(vf sriov.VF) *sriov.LinkInfo {
	if vf.Netdev == "" || (inv.hostLinks != nil && !inv.hostLinks[vf.Netdev]) {
		return nil
	}
	li, err := sriov.ReadLinkInfo(vf.Netdev)
	if err != nil {
		return nil
	}
	return li
}

func (inv *inventory) pfDetail(pci string) (*PFDetail, bool) {
	for i := range inv.pfs {
		p := &inv.pfs[i]
		if p.PCI != pci {
			continue
		}
		d := p.Detail
		for _, vf := range p.VFs {
			d.VFs = append(d.VFs, PFVFRow{VFRow: inv.vfRow(p, vf), Counters: p.Counters[vf.Index]})
		}
		return &d, true
	}
	return nil, false
}

func printPF(t *table, d *PFDetail) {
	t.row("PF", fmt.Sprintf("%s (%s), %d/%d VFs", d.PCI, orDash(d.Netdev), d.NumVFs, d.TotalVFs))
	t.row("PF driver", formatDriver(d.Link, d.LinkError))
	t.row("PF link", formatLink(d.Link))
	es := d.Eswitch
	if d.SwitchID != "" {
		es += ", switch id " + d.SwitchID
	}
	if d.PortName != "" {
		es += ", port " + d.PortName
	}
	t.row("Eswitch", es)
}

func formatDriver(li *sriov.LinkInfo, errText string) string {
	if li == nil {
		return "(not read: " + errText + ")"
	}
	return fmt.Sprintf("%s %s, firmware %s, bus-info %s", li.Driver, orDash(li.Version), orDash(li.Firmware), orDash(li.BusInfo))
}

func formatLink(li *sriov.LinkInfo) string {
	if li == nil {
		return "(not read)"
	}
	state := "down (no link detected)"
	if li.Link {
		state = "up"
	}
	if li.SpeedMbps == 0 {
		return state + ", speed unknown"
	}
	return fmt.Sprintf("%s, %d Mb/s %s duplex", state, li.SpeedMbps, orDash(li.Duplex))
}

func formatCounters(c *sriov.VFCounters) string {
	if c == nil {
		return "(not read)"
	}
	return fmt.Sprintf("rx %d packets %d bytes %d dropped %d multicast %d broadcast; tx %d packets %d bytes %d dropped",
		c.RxPackets, c.RxBytes, c.RxDropped, c.Multicast, c.Broadcast, c.TxPackets, c.TxBytes, c.TxDropped)
}

// nicSummary is doctor's one-line account of a PF's driver and port.
func nicSummary(d PFDetail) string {
	parts := []string{"driver " + formatDriver(d.Link, d.LinkError), "link " + formatLink(d.Link), "eswitch " + d.Eswitch}
	return strings.Join(parts, "; ")
}

// checkPFPort is doctor's check of an enabled PF's driver and port: its link
// (VFs reach nothing beyond the NIC without it) and its eswitch mode (fastpath
// applies VF settings in legacy mode only).
func checkPFPort(g *globals, pf sriov.PF) Check {
	const name = "pf-port"
	inv := &inventory{g: g, sysfs: sriov.Sysfs{Root: g.sysfsRoot}}
	p := pfInfo{PF: pf}
	inv.readNIC(&p)
	d := p.Detail
	detail := fmt.Sprintf("%s (%s): %s", pf.PCI, pf.Netdev, nicSummary(d))
	switch {
	case d.Eswitch == sriov.EswitchSwitchdev:
		return bad(name, statusWarn, detail+": VF settings through the PF (vlan, mac, rates...) are refused in switchdev mode",
			fmt.Sprintf("networks without VF settings work; for them: devlink dev eswitch set pci/%s mode legacy", pf.PCI))
	case d.Link == nil:
		return bad(name, statusWarn, detail, "check that the PF's netdev is in this namespace and its driver answers ethtool")
	case !d.Link.Link:
		return bad(name, statusWarn, detail+": VFs reach nothing beyond the NIC, and some drivers (igb) refuse max_tx_rate",
			fmt.Sprintf("ip link set %s up, and check its cable or switch port", pf.Netdev))
	}
	return ok(name, detail)
}

// LinkCounters are a netdev's own counters, as `ip -s link show` gives them.
type LinkCounters struct {
	RxPackets uint64 `json:"rxPackets"`
	RxBytes   uint64 `json:"rxBytes"`
	RxErrors  uint64 `json:"rxErrors"`
	RxDropped uint64 `json:"rxDropped"`
	TxPackets uint64 `json:"txPackets"`
	TxBytes   uint64 `json:"txBytes"`
	TxErrors  uint64 `json:"txErrors"`
	TxDropped uint64 `json:"txDropped"`
}

func countersOf(l netlink.Link) *LinkCounters {
	st := l.Attrs().Statistics
	if st == nil {
		return nil
	}
	return &LinkCounters{
		RxPackets: st.RxPackets, RxBytes: st.RxBytes, RxErrors: st.RxErrors, RxDropped: st.RxDropped,
		TxPackets: st.TxPackets, TxBytes: st.TxBytes, TxErrors: st.TxErrors, TxDropped: st.TxDropped,
	}
}

// netdevCounters reads the counters of VF vf's netdev where it is: on the
// host, or in the live namespace of the attachment rec that holds it (found
// by the PCI device it names, so a pod that renamed it does not hide it).
// nil when it is in neither.
func (inv *inventory) netdevCounters(vf sriov.VF, rec *state.Record) *LinkCounters {
	if vf.Netdev != "" && (inv.hostLinks == nil || inv.hostLinks[vf.Netdev]) {
		if l, err := netlink.LinkByName(vf.Netdev); err == nil {
			return countersOf(l)
		}
	}
	if rec == nil || rec.NetNS == "" || !inv.alive[rec.Key()] {
		return nil
	}
	ns, err := podNamespaces(rec.NetNS)
	if err != nil {
		return nil
	}
	defer ns.close()
	index := 0
	if rec.NetdevOrig != nil {
		index = rec.NetdevOrig.Index
	}
	l, err := sriov.FindInNS(&ns.Namespaces, rec.IfName, vf.PCI, index)
	if err != nil || l == nil {
		return nil
	}
	return countersOf(l)
}

// podNS is the handles on the host and on one pod's namespace.
type podNS struct{ sriov.Namespaces }

func podNamespaces(path string) (*podNS, error) {
	host, err := netns.Get()
	if err != nil {
		return nil, err
	}
	ns := &podNS{sriov.Namespaces{Host: host, Pod: -1}}
	if ns.Pod, err = netns.GetFromPath(path); err != nil {
		ns.close()
		return nil, err
	}
	if ns.PodH, err = netlink.NewHandleAt(ns.Pod); err != nil {
		ns.close()
		return nil, err
	}
	return ns, nil
}

func (ns *podNS) close() {
	if ns.PodH != nil {
		ns.PodH.Close()
	}
	if ns.Pod >= 0 {
		ns.Pod.Close()
	}
	ns.Host.Close()
}

func formatLinkCounters(c *LinkCounters) string {
	return fmt.Sprintf("rx %d packets %d bytes %d errors %d dropped; tx %d packets %d bytes %d errors %d dropped",
		c.RxPackets, c.RxBytes, c.RxErrors, c.RxDropped, c.TxPackets, c.TxBytes, c.TxErrors, c.TxDropped)
}
