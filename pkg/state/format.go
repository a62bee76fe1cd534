package state

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
)

// The record file is an on-disk format that outlives a release: the pods of
// a node keep their records across a DaemonSet upgrade, so a release reads
// every version an earlier one wrote, and refuses (never overwrites) one
// that a later release wrote.
//
// Version history:
//   - 1 (fastpath up to 4209b6f): no "version" member; one flat object with
//     the VF's members (pci, pf, pfPCI, vfIndex, driver, pfOrig,
//     netdevOrig) beside the common ones, and "vhost" for vhost-user.
//   - 2: "version": 2; the common members; "vf" for both VF modes (kernel,
//     userspace), "vhost" for vhost-user. pfOrig and netdevOrig keep their
//     members of version 1.
//
// The types below are the format: they are this package's own, so that a
// field added to the netlink layer's types changes no file (the conversions
// from and to those types stop compiling instead).
const Version = 2

// ErrNewer is a record written by a later fastpath, with a version this one
// cannot read: it is left as it is.
var ErrNewer = errors.New("record written by a newer fastpath")

// recordCommon are the members of every version.
type recordCommon struct {
	Network     string `json:"network"`
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
	NetNS       string `json:"netns"`
	Mode        string `json:"mode"`
	Device      string `json:"device"`
	// DeviceInfoFile is the device-info file ADD wrote, "" if none.
	DeviceInfoFile string          `json:"deviceInfoFile,omitempty"`
	Config         json.RawMessage `json:"config"`
	Args           string          `json:"args,omitempty"`
}

type recordV2 struct {
	Version int `json:"version"`
	recordCommon
	VF    *vfV2      `json:"vf,omitempty"`
	Vhost *vhostFile `json:"vhost,omitempty"`
}

type vfV2 struct {
	PCI        string      `json:"pci"`
	PF         string      `json:"pf"`
	PFPCI      string      `json:"pfPCI"`
	Index      int         `json:"index"`
	Driver     string      `json:"driver"`
	PFOrig     *pfFile     `json:"pfOrig,omitempty"`
	NetdevOrig *netdevFile `json:"netdevOrig,omitempty"`
}

// pfFile is sriov.PFSettings as records hold it (versions 1 and 2).
type pfFile struct {
	MAC       string `json:"mac"`
	Vlan      int    `json:"vlan"`
	QoS       int    `json:"qos"`
	VlanProto int    `json:"vlanProto"`
	SpoofChk  bool   `json:"spoofchk"`
	Trust     bool   `json:"trust"`
	LinkState uint32 `json:"linkState"`
	MinTxRate uint32 `json:"minTxRate"`
	MaxTxRate uint32 `json:"maxTxRate"`
}

// netdevFile is sriov.NetdevState as records hold it (versions 1 and 2).
type netdevFile struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	MAC   string `json:"mac"`
	MTU   int    `json:"mtu"`
	Up    bool   `json:"up"`
	Perm  string `json:"perm,omitempty"`
}

// vhostFile is Vhost as records hold it (versions 1 and 2).
type vhostFile struct {
	Backend string `json:"backend"`
	OVSDB   string `json:"ovsdb,omitempty"`
	Bridge  string `json:"bridge,omitempty"`
	Port    string `json:"port,omitempty"`
	Role    string `json:"role"`
	PodDir  string `json:"podDir"`
	Socket  string `json:"socket"`
	JSON    string `json:"json"`
	Vlan    int    `json:"vlan,omitempty"`
}

// recordV1 is version 1, as fastpath 4209b6f wrote it.
type recordV1 struct {
	recordCommon
	PCI        string      `json:"pci,omitempty"`
	PF         string      `json:"pf"`
	PFPCI      string      `json:"pfPCI"`
	VFIndex    int         `json:"vfIndex"`
	Driver     string      `json:"driver"`
	Vhost      *vhostFile  `json:"vhost,omitempty"`
	PFOrig     *pfFile     `json:"pfOrig,omitempty"`
	NetdevOrig *netdevFile `json:"netdevOrig,omitempty"`
}

// encode writes r in the current version.
func encode(r *Record) ([]byte, error) {
	f := recordV2{Version: Version, recordCommon: recordCommon{
		Network: r.Network, ContainerID: r.ContainerID, IfName: r.IfName, NetNS: r.NetNS,
		Mode: r.Mode, Device: r.Device, DeviceInfoFile: r.DeviceInfoFile, Config: r.Config, Args: r.Args,
	}}
	if r.Vhost != nil {
		v := vhostFile(*r.Vhost)
		f.Vhost = &v
	}
	if r.Mode == attach.ModeKernel || r.Mode == attach.ModeUserspace {
		f.VF = &vfV2{PCI: r.PCI, PF: r.PF, PFPCI: r.PFPCI, Index: r.VFIndex, Driver: r.Driver}
		if r.PFOrig != nil {
			p := pfFile(*r.PFOrig)
			f.VF.PFOrig = &p
		}
		if r.NetdevOrig != nil {
			n := netdevFile(*r.NetdevOrig)
			f.VF.NetdevOrig = &n
		}
	}
	return json.Marshal(&f)
}

// decode reads a record of any version this release knows.
func decode(b []byte) (*Record, error) {
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	switch {
	case head.Version == nil:
		var f recordV1
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		r := f.record(f.Vhost)
		r.PCI, r.PF, r.PFPCI, r.VFIndex, r.Driver = f.PCI, f.PF, f.PFPCI, f.VFIndex, f.Driver
		r.PFOrig, r.NetdevOrig = pfSettings(f.PFOrig), netdevState(f.NetdevOrig)
		return r, nil
	case *head.Version == Version:
		var f recordV2
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		r := f.record(f.Vhost)
		if vf := f.VF; vf != nil {
			r.PCI, r.PF, r.PFPCI, r.VFIndex, r.Driver = vf.PCI, vf.PF, vf.PFPCI, vf.Index, vf.Driver
			r.PFOrig, r.NetdevOrig = pfSettings(vf.PFOrig), netdevState(vf.NetdevOrig)
		}
		return r, nil
	case *head.Version > Version:
		return nil, fmt.Errorf("version %d; this fastpath reads versions 1 to %d: %w", *head.Version, Version, ErrNewer)
	}
	return nil, fmt.Errorf("version %d: %w", *head.Version, ErrCorrupt)
}

// record is the in-memory record of the common members and vhost.
func (c *recordCommon) record(vhost *vhostFile) *Record {
	r := &Record{
		Network: c.Network, ContainerID: c.ContainerID, IfName: c.IfName, NetNS: c.NetNS, Mode: c.Mode,
		Device: c.Device, DeviceInfoFile: c.DeviceInfoFile, Config: c.Config, Args: c.Args,
	}
	if string(r.Config) == "null" {
		r.Config = nil
	}
	if vhost != nil {
		v := Vhost(*vhost)
		r.Vhost = &v
	}
	return r
}

func pfSettings(p *pfFile) *sriov.PFSettings {
	if p == nil {
		return nil
	}
	s := sriov.PFSettings(*p)
	return &s
}

func netdevState(n *netdevFile) *sriov.NetdevState {
	if n == nil {
		return nil
	}
	s := sriov.NetdevState(*n)
	return &s
}
