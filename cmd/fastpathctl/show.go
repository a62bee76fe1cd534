package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// ShowResult is `show -o json`: one VF (kind "vf"), one PF (kind "pf"), or
// every attachment of one container (kind "container").
type ShowResult struct {
	Query       string             `json:"query"`
	Kind        string             `json:"kind"`
	VF          *VFDetail          `json:"vf,omitempty"`
	PF          *PFDetail          `json:"pf,omitempty"`
	ContainerID string             `json:"containerID,omitempty"`
	Attachments []AttachmentDetail `json:"attachments,omitempty"`
}

// VFDetail is everything about one VF.
type VFDetail struct {
	VFRow
	// OnNode is false for a VF that only a record names.
	OnNode bool `json:"onNode"`
	// PFSettings is its entry in the PF's VF table now; nil if unread.
	PFSettings *sriov.PFSettings `json:"pfSettings"`
	// Claim is the attachment key that claims the VF, "" if none.
	Claim string `json:"claim"`
	// Record is the record in full (what DEL restores: pfOrig, netdevOrig).
	Record     *state.Record `json:"record"`
	RecordFile string        `json:"recordFile"`
	// PFInfo is its PF's driver and port (without the PF's VF list), nil
	// for a VF that only a record names.
	PFInfo *PFDetail `json:"pfInfo"`
	// Counters are its traffic as the PF counts it; nil if unread.
	Counters *sriov.VFCounters `json:"counters"`
	// NetdevLink is what its host netdev's driver reports; nil when the
	// netdev is not on the host (in a pod, or none).
	NetdevLink *sriov.LinkInfo `json:"netdevLink"`
	// NetdevCounters are its netdev's own counters, on the host or in the
	// pod that holds it; nil when it is in neither (a userspace VF).
	NetdevCounters *LinkCounters `json:"netdevCounters"`
}

// AttachmentDetail is one attachment of a container: its record in full
// and what its device looks like now.
type AttachmentDetail struct {
	Key        string        `json:"key"`
	RecordFile string        `json:"recordFile"`
	Record     *state.Record `json:"record"`
	// VF and PFSettings for a VF attachment whose VF is on the node.
	VF         *VFRow            `json:"vf,omitempty"`
	PFSettings *sriov.PFSettings `json:"pfSettings,omitempty"`
	// Vhost for a vhost-user attachment.
	Vhost *VhostRow `json:"vhost,omitempty"`
}

func newShow(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show PCI|CONTAINER-ID|NAMESPACE/POD",
		Short: "Show everything about one VF or PF, or every attachment of one container",
		Long: `show PCI shows one VF: what sysfs and the PF's VF table say now, who holds it,
its counters as the PF counts them and its netdev's own (on the host, or in
the pod that holds it), what its PF's driver and its own report (ethtool:
driver, firmware, bus-info, link speed and state), and its record in
full (the PF-side settings and the netdev state that DEL restores). For the
address of an SR-IOV enabled PF it shows the PF's driver, link and eswitch
mode, and each of its VFs with its counters. A PCI address may omit the
domain 0000:.

show CONTAINER-ID (or a unique prefix of one, or NAMESPACE/POD) shows every
attachment of that container: each record in full and its device now.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return found(runShow(cmd.Context(), g, args[0])) },
	}
}

var pciRe = regexp.MustCompile(`^([0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

func runShow(ctx context.Context, g *globals, query string) error {
	inv, err := load(g)
	if err != nil {
		return err
	}
	res := &ShowResult{Query: query}
	if q := strings.ToLower(query); pciRe.MatchString(q) {
		if len(q) == len("bb:dd.f") {
			q = "0000:" + q
		}
		if pf, ok := inv.pfDetail(q); ok {
			res.Kind, res.PF = "pf", pf
		} else {
			res.Kind = "vf"
			if res.VF, err = inv.vfDetail(q); err != nil {
				return err
			}
		}
	} else {
		res.Kind = "container"
		if err := inv.containerDetail(ctx, query, res); err != nil {
			return err
		}
	}
	if g.json() {
		return writeJSON(g.stdout, res)
	}
	return printShow(g, res)
}

func (inv *inventory) vfDetail(pci string) (*VFDetail, error) {
	d := &VFDetail{}
	pf, vf, ok := inv.findVF(pci)
	var rec *state.Record
	if ok {
		d.OnNode = true
		d.VFRow = inv.vfRow(pf, vf)
		if pf.Table != nil {
			d.PFSettings = pf.Table[vf.Index]
		}
		pfInfo := pf.Detail
		d.PFInfo, d.Counters, d.NetdevLink = &pfInfo, pf.Counters[vf.Index], inv.netdevLink(vf)
		rec, d.Claim = inv.owner(pci)
		d.NetdevCounters = inv.netdevCounters(vf, rec)
	} else {
		rec, d.Claim = inv.owner(pci)
		if rec == nil {
			return nil, fmt.Errorf("%s is not a VF of an SR-IOV enabled PF under %s, and no record names it", pci, inv.g.sysfsRoot)
		}
		d.VFRow = inv.orphanRow(rec)
	}
	if rec != nil {
		d.Record, d.RecordFile = rec, inv.store.RecordPath(rec.Key())
	}
	return d, nil
}

// matchContainer finds the records of one container: by its ID, a unique
// prefix of it, or its pod's namespace/name.
func (inv *inventory) matchContainer(query string) ([]*state.Record, error) {
	var exact, prefix, pod []*state.Record
	for _, rec := range inv.records {
		a := inv.attachment(rec)
		switch {
		case rec.ContainerID == query:
			exact = append(exact, rec)
		case strings.HasPrefix(rec.ContainerID, query):
			prefix = append(prefix, rec)
		case a.Pod != "" && a.Pod == query:
			pod = append(pod, rec)
		}
	}
	for _, recs := range [][]*state.Record{exact, prefix, pod} {
		if len(recs) == 0 {
			continue
		}
		ids := map[string]bool{}
		for _, rec := range recs {
			ids[rec.ContainerID] = true
		}
		if len(ids) > 1 {
			return nil, fmt.Errorf("%q matches %d containers: %s", query, len(ids), strings.Join(sortedKeys(ids), ", "))
		}
		return recs, nil
	}
	var corrupt []string
	for _, c := range inv.corrupt {
		if _, att, _ := strings.Cut(c.Key, "/"); strings.HasPrefix(att, query) {
			corrupt = append(corrupt, c.Path)
		}
	}
	if len(corrupt) > 0 {
		return nil, fmt.Errorf("container %q has only corrupt records: %s", query, strings.Join(corrupt, ", "))
	}
	return nil, fmt.Errorf("no attachment of container %q in %s", query, inv.g.stateDir)
}

func (inv *inventory) containerDetail(ctx context.Context, query string, res *ShowResult) error {
	recs, err := inv.matchContainer(query)
	if err != nil {
		return err
	}
	res.ContainerID = recs[0].ContainerID
	var conns ovsConns
	defer conns.close()
	for _, rec := range recs {
		d := AttachmentDetail{Key: rec.Key(), RecordFile: inv.store.RecordPath(rec.Key()), Record: rec}
		switch {
		case rec.Mode == attach.ModeVhostUser:
			row := inv.vhostRow(ctx, &conns, rec)
			d.Vhost = &row
		default:
			var row VFRow
			if pf, vf, ok := inv.findVF(rec.PCI); ok {
				row = inv.vfRow(pf, vf)
				if pf.Table != nil {
					d.PFSettings = pf.Table[vf.Index]
				}
			} else {
				row = inv.orphanRow(rec)
			}
			d.VF = &row
		}
		res.Attachments = append(res.Attachments, d)
	}
	return nil
}

func printShow(g *globals, res *ShowResult) error {
	t := newTable(g.stdout)
	if res.Kind == "pf" {
		printPF(t, res.PF)
		for _, v := range res.PF.VFs {
			t.row(fmt.Sprintf("VF %d", v.VF), fmt.Sprintf("%s %s %s: %s", v.PCI, orDash(v.Netdev), v.Status, formatCounters(v.Counters)))
		}
		return t.flush()
	}
	if res.Kind == "vf" {
		d := res.VF
		t.row("VF", fmt.Sprintf("%s: VF %d of %s (%s)", d.PCI, d.VF, d.PF, d.PFPCI))
		if !d.OnNode {
			t.row("", "not on this node: only a record names it")
		}
		t.row("Netdev", d.Netdev)
		t.row("Driver", d.Driver)
		t.row("Mode", d.Mode)
		t.row("Status", d.Status)
		t.row("PF side now", formatPF(d.PFSettings))
		t.row("Counters", formatCounters(d.Counters)+" (as the PF counts them)")
		if d.NetdevLink != nil {
			t.row("Netdev driver", formatDriver(d.NetdevLink, ""))
			t.row("Netdev link", formatLink(d.NetdevLink))
		}
		if d.NetdevCounters != nil {
			t.row("Netdev counters", formatLinkCounters(d.NetdevCounters))
		}
		if d.PFInfo != nil {
			printPF(t, d.PFInfo)
		}
		if d.Claim != "" {
			t.row("Claimed by", d.Claim)
		}
		if d.Record != nil {
			printAttachment(t, d.Attachment)
			printRecord(t, d.Record, d.RecordFile)
		}
		return t.flush()
	}
	for i, d := range res.Attachments {
		if i > 0 {
			t.raw("", "")
		}
		t.row(fmt.Sprintf("Attachment %d of %d", i+1, len(res.Attachments)), d.Key)
		switch {
		case d.Vhost != nil:
			v := d.Vhost
			printAttachment(t, v.Attachment)
			t.row("Backend", v.Backend)
			if v.Port != "" {
				t.row("OVS port", fmt.Sprintf("%s on %s (%s)", v.Port, v.Bridge, portState(v)))
			}
			t.row("Socket", fmt.Sprintf("%s (app is %s)", v.Socket, v.Role))
			t.row("Pod dir", v.PodDir)
		case d.VF != nil:
			v := d.VF
			printAttachment(t, v.Attachment)
			t.row("VF", fmt.Sprintf("%s: VF %d of %s (%s), %s", v.PCI, v.VF, v.PF, v.PFPCI, v.Status))
			t.row("Netdev", v.Netdev)
			t.row("Driver", v.Driver)
			t.row("PF side now", formatPF(d.PFSettings))
		}
		printRecord(t, d.Record, d.RecordFile)
	}
	return t.flush()
}

func portState(v *VhostRow) string {
	switch v.PortState {
	case "present":
		s := "link " + v.LinkState
		if v.PortError != "" {
			s += ", error: " + v.PortError
		}
		return s
	case "missing":
		return "port missing from OVSDB"
	}
	return "OVSDB did not answer"
}

func printAttachment(t *table, a Attachment) {
	pod := a.Pod
	if a.PodUID != "" {
		pod = strings.TrimSpace(pod + " (uid " + a.PodUID + ")")
	}
	alive := "gone"
	if a.NetNSAlive {
		alive = "alive"
	}
	t.row("Pod", pod)
	t.row("Container", a.ContainerID)
	t.row("Network", a.Network)
	t.row("Netns", a.NetNS+" ("+alive+")")
	t.row("Interface", a.IfName)
}

func printRecord(t *table, rec *state.Record, path string) {
	t.row("Record", path)
	t.row("  mode, device", rec.Mode+", "+rec.Device)
	if rec.Mode != attach.ModeVhostUser {
		if rec.PFOrig != nil {
			t.row("  PF side before", formatPF(rec.PFOrig)+" (restored by DEL)")
		} else {
			t.row("  PF side before", "not recorded: ADD set no PF-side setting")
		}
		if n := rec.NetdevOrig; n != nil {
			up := "down"
			if n.Up {
				up = "up"
			}
			t.row("  netdev before", fmt.Sprintf("%s mac %s mtu %d %s (restored by DEL)", n.Name, n.MAC, n.MTU, up))
		}
	}
	if rec.DeviceInfoFile != "" {
		t.row("  device info", rec.DeviceInfoFile)
	}
	t.row("  CNI_ARGS", rec.Args)
	t.row("  config", string(rec.Config))
}

func formatPF(s *sriov.PFSettings) string {
	if s == nil {
		return "(not read)"
	}
	proto := "802.1Q"
	if s.VlanProto == 0x88a8 {
		proto = "802.1ad"
	}
	on := func(b bool) string { return onOff(&b) }
	return fmt.Sprintf("mac %s vlan %d qos %d proto %s spoofchk %s trust %s link-state %s min_tx_rate %d max_tx_rate %d",
		s.MAC, s.Vlan, s.QoS, proto, on(s.SpoofChk), on(s.Trust), attach.LinkStateName(s.LinkState), s.MinTxRate, s.MaxTxRate)
}
