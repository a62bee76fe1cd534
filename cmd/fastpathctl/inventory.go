package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/dpdk"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// Status of a VF or an attachment, as list, show and gc name it.
const (
	statusFree     = "free"     // no record, no claim
	statusAttached = "attached" // recorded, its pod's netns alive
	statusStale    = "stale"    // recorded, its pod's netns gone: gc releases it
	statusClaimed  = "claimed"  // a claim without a record: gc removes it
	statusCorrupt  = "corrupt"  // claimed by a record that cannot be read
	statusOrphan   = "orphan"   // recorded, but the device is not on this node
)

// Attachment is who holds a device, from fastpath's record.
type Attachment struct {
	Network     string `json:"network"`
	ContainerID string `json:"containerID"`
	Pod         string `json:"pod"` // namespace/name, from CNI_ARGS K8S_POD_*
	PodUID      string `json:"podUID"`
	NetNS       string `json:"netns"`
	NetNSAlive  bool   `json:"netnsAlive"`
	IfName      string `json:"ifname"`
	Status      string `json:"status"`
}

// VFRow is one VF: sysfs, the record that holds it, and its entry in the
// PF's VF table. The PF-side fields are null when the table was not read.
type VFRow struct {
	PF     string `json:"pf"` // the PF's netdev
	PFPCI  string `json:"pfPCI"`
	VF     int    `json:"vf"` // index on the PF
	PCI    string `json:"pci"`
	Netdev string `json:"netdev"` // on the host if visible, else the pod's ifname
	Driver string `json:"driver"`
	Mode   string `json:"mode"` // kernel, userspace, or "" when unbound
	Attachment
	MAC      *string `json:"mac"`
	VLAN     *int    `json:"vlan"`
	QoS      *int    `json:"qos"`
	Trust    *bool   `json:"trust"`
	SpoofChk *bool   `json:"spoofchk"`
}

func (r *VFRow) setPFSide(s *sriov.PFSettings) {
	if s == nil {
		return
	}
	r.MAC, r.VLAN, r.QoS, r.Trust, r.SpoofChk = &s.MAC, &s.Vlan, &s.QoS, &s.Trust, &s.SpoofChk
}

// VhostRow is one vhost-user attachment: its record and, if OVSDB answers,
// its port.
type VhostRow struct {
	Attachment
	Backend string `json:"backend"`
	Port    string `json:"port"`
	Bridge  string `json:"bridge"`
	Socket  string `json:"socket"`
	PodDir  string `json:"podDir"`
	Role    string `json:"role"`
	VLAN    int    `json:"vlan"`
	OVSDB   string `json:"ovsdb"`
	// PortState is "present", "missing", "unknown" (OVSDB did not answer),
	// or "" for a provisioned socket (no port).
	PortState string `json:"portState"`
	LinkState string `json:"linkState"` // OVS's link_state: up, down
	PortError string `json:"portError"` // OVS's error for the interface
}

// pfInfo is one PF with SR-IOV enabled, its VFs and its VF table.
type pfInfo struct {
	sriov.PF
	VFs      []sriov.VF
	Table    map[int]*sriov.PFSettings // nil when not read
	Counters map[int]*sriov.VFCounters // by VF index, with Table
	Err      error                     // why Table is nil
	Detail   PFDetail                  // its driver and port, without VFs
}

type corruptRecord struct {
	Key  string
	Path string
	Err  error
}

// inventory is everything fastpathctl knows about the node, read once.
type inventory struct {
	g           *globals
	store       state.Store
	sysfs       sriov.Sysfs
	pfs         []pfInfo // SR-IOV enabled only
	records     []*state.Record
	byKey       map[string]*state.Record
	alive       map[string]bool // by record key: its netns is alive
	corrupt     []corruptRecord // records that do not decode
	quarantined []string        // keys of .corrupt records
	claims      map[string]string
	hostLinks   map[string]bool // netdev names of this namespace; nil if unknown
}

func load(g *globals) (*inventory, error) {
	inv := &inventory{
		g: g, store: state.Store{Dir: g.stateDir}, sysfs: sriov.Sysfs{Root: g.sysfsRoot},
		byKey: map[string]*state.Record{}, alive: map[string]bool{},
	}
	if err := inv.loadState(); err != nil {
		return nil, err
	}
	if err := inv.loadDevices(); err != nil {
		return nil, err
	}
	return inv, nil
}

func (inv *inventory) loadState() error {
	keys, err := inv.store.ListAll()
	if err != nil {
		return err
	}
	for _, key := range keys {
		rec, err := inv.store.Load(key)
		switch {
		case errors.Is(err, state.ErrCorrupt):
			inv.corrupt = append(inv.corrupt, corruptRecord{key, inv.store.RecordPath(key), err})
		case errors.Is(err, state.ErrNewer):
			// A later release's: neither shown as ours nor touched.
			inv.g.warnf("%v: leaving it to that release", err)
		case err != nil:
			return err
		case rec != nil: // nil: released meanwhile
			inv.records = append(inv.records, rec)
			inv.byKey[key] = rec
			inv.alive[key] = attach.NetNSAlive(rec.NetNS)
		}
	}
	if inv.quarantined, err = inv.store.Quarantined(); err != nil {
		return err
	}
	inv.claims, err = inv.store.Claims()
	return err
}

func (inv *inventory) loadDevices() error {
	pfs, err := inv.sysfs.PFs()
	if err != nil {
		return fmt.Errorf("reading sysfs under %s: %w", inv.g.sysfsRoot, err)
	}
	h, herr := netlink.NewHandle(unix.NETLINK_ROUTE)
	if herr == nil {
		defer h.Close()
		if links, err := h.LinkList(); err == nil {
			inv.hostLinks = map[string]bool{}
			for _, l := range links {
				inv.hostLinks[l.Attrs().Name] = true
			}
		}
	}
	for _, pf := range pfs {
		if pf.NumVFs == 0 {
			continue
		}
		p := pfInfo{PF: pf}
		if p.VFs, err = inv.sysfs.VFs(pf); err != nil {
			return err
		}
		switch {
		case herr != nil:
			p.Err = fmt.Errorf("opening netlink: %w", herr)
		case pf.Netdev == "":
			p.Err = fmt.Errorf("PF %s has no netdev in this namespace: its VF table cannot be read", pf.PCI)
		default:
			// One read of the PF's VF table for all its VFs.
			p.Table, p.Counters, p.Err = sriov.ReadVFTable(h, pf.Netdev)
		}
		inv.readNIC(&p)
		inv.pfs = append(inv.pfs, p)
	}
	return nil
}

// isCorrupt tells whether key names a record that does not decode.
func (inv *inventory) isCorrupt(key string) bool {
	for _, c := range inv.corrupt {
		if c.Key == key {
			return true
		}
	}
	return false
}

// owner is the record holding VF pci (by its claim, else by a record that
// names it), and the claim's key.
func (inv *inventory) owner(pci string) (*state.Record, string) {
	key := inv.claims[pci]
	if rec := inv.byKey[key]; rec != nil {
		return rec, key
	}
	for _, rec := range inv.records {
		if rec.Mode != attach.ModeVhostUser && rec.PCI == pci {
			return rec, key
		}
	}
	return nil, key
}

// onNode tells whether VF pci is a VF of an SR-IOV enabled PF here.
func (inv *inventory) onNode(pci string) bool {
	_, _, ok := inv.findVF(pci)
	return ok
}

func (inv *inventory) findVF(pci string) (*pfInfo, sriov.VF, bool) {
	for i := range inv.pfs {
		for _, vf := range inv.pfs[i].VFs {
			if vf.PCI == pci {
				return &inv.pfs[i], vf, true
			}
		}
	}
	return nil, sriov.VF{}, false
}

func (inv *inventory) attachment(rec *state.Record) Attachment {
	a := Attachment{
		Network: rec.Network, ContainerID: rec.ContainerID, NetNS: rec.NetNS, IfName: rec.IfName,
		NetNSAlive: inv.alive[rec.Key()], Status: statusStale,
	}
	if a.NetNSAlive {
		a.Status = statusAttached
	}
	if args, err := config.ParseArgs(rec.Args); err == nil {
		a.PodUID = args.PodUID
		if args.PodName != "" {
			a.Pod = args.PodNamespace + "/" + args.PodName
		}
	}
	return a
}

func (inv *inventory) vfRow(pf *pfInfo, vf sriov.VF) VFRow {
	r := VFRow{PF: pf.Netdev, PFPCI: pf.PCI, VF: vf.Index, PCI: vf.PCI, Driver: vf.Driver, Netdev: vf.Netdev}
	if r.Netdev != "" && inv.hostLinks != nil && !inv.hostLinks[r.Netdev] {
		r.Netdev = "" // sysfs names it, but it is not in this namespace
	}
	rec, claim := inv.owner(vf.PCI)
	switch {
	case rec != nil:
		r.Attachment = inv.attachment(rec)
		r.Mode = rec.Mode
		if r.Netdev == "" {
			r.Netdev = rec.IfName
		}
	case claim != "" && inv.isCorrupt(claim):
		r.Status = statusCorrupt
	case claim != "":
		r.Status = statusClaimed
	default:
		r.Status = statusFree
	}
	if r.Mode == "" {
		r.Mode, _ = attach.VFMode(vf.PCI, vf.Driver, vf.Netdev) // "": the plugin would refuse it
	}
	if pf.Table != nil {
		r.setPFSide(pf.Table[vf.Index])
	}
	return r
}

// orphanRow is a VF record whose device is not on the node.
func (inv *inventory) orphanRow(rec *state.Record) VFRow {
	r := VFRow{PF: rec.PF, PFPCI: rec.PFPCI, VF: rec.VFIndex, PCI: rec.PCI, Driver: rec.Driver, Mode: rec.Mode,
		Netdev: rec.IfName, Attachment: inv.attachment(rec)}
	r.Status = statusOrphan
	return r
}

// vfRecords are the records of VFs (kernel or userspace), sorted by key.
func (inv *inventory) vfRecords() []*state.Record {
	var out []*state.Record
	for _, rec := range inv.records {
		if rec.Mode != attach.ModeVhostUser {
			out = append(out, rec)
		}
	}
	return out
}

func (inv *inventory) vhostRecords() []*state.Record {
	var out []*state.Record
	for _, rec := range inv.records {
		if rec.Mode == attach.ModeVhostUser {
			out = append(out, rec)
		}
	}
	return out
}

// vhostRow describes a vhost-user record, asking OVSDB about its port.
func (inv *inventory) vhostRow(ctx context.Context, conns *ovsConns, rec *state.Record) VhostRow {
	r := VhostRow{Attachment: inv.attachment(rec)}
	vh := rec.Vhost
	if vh == nil {
		return r
	}
	r.Backend, r.Port, r.Bridge, r.Socket, r.PodDir, r.Role, r.VLAN, r.OVSDB =
		vh.Backend, vh.Port, vh.Bridge, vh.Socket, vh.PodDir, vh.Role, vh.Vlan, vh.OVSDB
	if vh.Backend != config.BackendOVS || vh.Port == "" {
		return r
	}
	endpoint := vh.OVSDB
	if endpoint == "" {
		endpoint = inv.g.ovsdb
	}
	r.PortState = "unknown"
	o, err := conns.get(ctx, endpoint)
	if err != nil {
		return r
	}
	p, err := o.GetPort(ctx, vh.Port)
	switch {
	case err != nil:
	case p == nil:
		r.PortState = "missing"
	default:
		r.PortState, r.LinkState, r.PortError = "present", p.LinkState, p.Error
		if r.Bridge == "" {
			r.Bridge = p.Bridge
		}
	}
	return r
}

// ovsConns dials each OVSDB endpoint once, remembering failures too.
type ovsConns struct {
	m map[string]*ovsConn
}

type ovsConn struct {
	o   *dpdk.OVS
	err error
}

// dialTimeout bounds how long fastpathctl waits for an OVSDB that may not
// be there at all (a node without vhost-user).
const dialTimeout = 3 * time.Second

func (c *ovsConns) get(ctx context.Context, endpoint string) (*dpdk.OVS, error) {
	if c.m == nil {
		c.m = map[string]*ovsConn{}
	}
	if oc, ok := c.m[endpoint]; ok {
		return oc.o, oc.err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	o, err := dpdk.Dial(dctx, endpoint)
	if err == nil {
		if err = o.Ping(dctx); err != nil {
			o.Close()
			o = nil
		}
	}
	c.m[endpoint] = &ovsConn{o, err}
	return o, err
}

func (c *ovsConns) close() {
	for _, oc := range c.m {
		oc.o.Close()
	}
}

// endpoints are the OVSDB endpoints to look at: the flag's, and every one a
// vhost-user record names.
func (inv *inventory) endpoints() []string {
	seen := map[string]bool{}
	out := []string{inv.g.ovsdb}
	seen[strings.TrimPrefix(inv.g.ovsdb, "unix:")] = true
	for _, rec := range inv.vhostRecords() {
		if rec.Vhost == nil || rec.Vhost.Backend != config.BackendOVS || rec.Vhost.OVSDB == "" {
			continue
		}
		if k := strings.TrimPrefix(rec.Vhost.OVSDB, "unix:"); !seen[k] {
			seen[k] = true
			out = append(out, rec.Vhost.OVSDB)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
