package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// ListResult is `list -o json`.
type ListResult struct {
	PFs       []PFRow    `json:"pfs"`
	VhostUser []VhostRow `json:"vhostuser"`
	// Orphans are VF records whose device is not on this node.
	Orphans []VFRow `json:"orphans"`
}

// PFRow is one PF with SR-IOV enabled and its VFs.
type PFRow struct {
	PCI      string  `json:"pci"`
	Netdev   string  `json:"netdev"`
	Driver   string  `json:"driver"`
	NumVFs   int     `json:"numVFs"`
	TotalVFs int     `json:"totalVFs"`
	Error    string  `json:"error"` // why the VF table is missing, "" if read
	VFs      []VFRow `json:"vfs"`
}

func newList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Show every PF and VF and every vhost-user attachment, with the pod that holds it",
		Long: `list shows, for each PF with SR-IOV enabled, each VF: its PCI address, netdev
(on the host if visible, else the pod's interface), driver, mode, status, the pod
and container holding it, their netns and interface, and from one read of the PF's
VF table its MAC, VLAN, trust and spoof checking. Then every vhost-user attachment
with its OVS port and, if OVSDB answers, the port's link state. Records whose
device is not on this node show as orphans.

Status: free, attached, stale (the pod's netns is gone: gc releases it), claimed
(a claim without a record: gc removes it), corrupt (held by an unreadable record),
orphan (the record's device is not on this node).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return found(runList(cmd.Context(), g)) },
	}
}

func runList(ctx context.Context, g *globals) error {
	inv, err := load(g)
	if err != nil {
		return err
	}
	res := ListResult{PFs: []PFRow{}, VhostUser: []VhostRow{}, Orphans: []VFRow{}}
	for i := range inv.pfs {
		pf := &inv.pfs[i]
		row := PFRow{PCI: pf.PCI, Netdev: pf.Netdev, Driver: pf.Driver, NumVFs: pf.NumVFs, TotalVFs: pf.TotalVFs, VFs: []VFRow{}}
		if pf.Err != nil {
			row.Error = pf.Err.Error()
		}
		for _, vf := range pf.VFs {
			row.VFs = append(row.VFs, inv.vfRow(pf, vf))
		}
		res.PFs = append(res.PFs, row)
	}
	var conns ovsConns
	defer conns.close()
	for _, rec := range inv.vhostRecords() {
		res.VhostUser = append(res.VhostUser, inv.vhostRow(ctx, &conns, rec))
	}
	for _, rec := range inv.vfRecords() {
		if !inv.onNode(rec.PCI) {
			res.Orphans = append(res.Orphans, inv.orphanRow(rec))
		}
	}
	if g.json() {
		return writeJSON(g.stdout, res)
	}
	return printList(g, &res)
}

var vfHeader = []string{"PF", "VF", "PCI", "NETDEV", "DRIVER", "MODE", "STATUS", "POD", "CONTAINER", "NETNS", "IFNAME", "MAC", "VLAN", "TRUST", "SPOOFCHK"}

func vfCells(pf string, r *VFRow) []string {
	vlan := num(r.VLAN)
	if r.QoS != nil && *r.QoS != 0 {
		vlan += fmt.Sprintf(" qos %d", *r.QoS)
	}
	return []string{pf, fmt.Sprint(r.VF), r.PCI, r.Netdev, r.Driver, r.Mode, r.Status, r.Pod, short(r.ContainerID),
		r.NetNS, r.IfName, str(r.MAC), vlan, onOff(r.Trust), onOff(r.SpoofChk)}
}

func printList(g *globals, res *ListResult) error {
	w := g.stdout
	if len(res.PFs) == 0 {
		fmt.Fprintf(w, "No PF with SR-IOV enabled under %s.\n", g.sysfsRoot)
	} else {
		t := newTable(w, vfHeader...)
		for _, pf := range res.PFs {
			name := pf.Netdev
			if name == "" {
				name = pf.PCI
			}
			for i := range pf.VFs {
				t.row(vfCells(name, &pf.VFs[i])...)
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, pf := range res.PFs {
			if pf.Error != "" {
				g.warnf("PF %s: no MAC, VLAN, trust or spoofchk: %s", pf.PCI, pf.Error)
			}
		}
	}
	if len(res.VhostUser) > 0 {
		fmt.Fprintln(w, "\nvhost-user:")
		t := newTable(w, "PORT", "BRIDGE", "LINK", "ROLE", "STATUS", "POD", "CONTAINER", "NETNS", "IFNAME", "SOCKET")
		for _, v := range res.VhostUser {
			link := v.LinkState
			switch v.PortState {
			case "missing":
				link = "no port"
			case "unknown":
				link = "?"
			}
			t.row(v.Port, v.Bridge, link, v.Role, v.Status, v.Pod, short(v.ContainerID), v.NetNS, v.IfName, v.Socket)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(res.Orphans) > 0 {
		fmt.Fprintln(w, "\nRecords whose device is not on this node:")
		t := newTable(w, vfHeader...)
		for i := range res.Orphans {
			t.row(vfCells(res.Orphans[i].PF, &res.Orphans[i])...)
		}
		return t.flush()
	}
	return nil
}
