package sriov

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
)

// ErrRefused marks a VF setting that the PF driver rejected.
var ErrRefused = errors.New("the PF driver refused the setting")

// ErrNoVFInfo means the PF does not report the VF in its VF table.
var ErrNoVFInfo = errors.New("PF reports no such VF")

// PFSettings is the PF-side state of one VF, as `ip link show PF` lists it.
type PFSettings struct {
	MAC       string
	Vlan      int
	QoS       int
	VlanProto int
	SpoofChk  bool
	Trust     bool
	LinkState uint32
	MinTxRate uint32
	MaxTxRate uint32
}

// ReadPFSettings reads the PF link with its VF table (one netlink request)
// and returns the entry of VF idx.
func ReadPFSettings(h *netlink.Handle, pf string, idx int) (netlink.Link, *PFSettings, error) {
	link, err := h.LinkByName(pf)
	if err != nil {
		return nil, nil, fmt.Errorf("reading PF %s: %w", pf, err)
	}
	for _, v := range link.Attrs().Vfs {
		if v.ID == idx {
			return link, fromVfInfo(v), nil
		}
	}
	return link, nil, fmt.Errorf("VF %d of PF %s: %w", idx, pf, ErrNoVFInfo)
}

func fromVfInfo(v netlink.VfInfo) *PFSettings {
	proto := v.VlanProto
	if proto == 0 { // drivers that report only IFLA_VF_VLAN mean 802.1Q
		proto = 0x8100
	}
	return &PFSettings{
		MAC: v.Mac.String(), Vlan: v.Vlan, QoS: v.Qos, VlanProto: proto,
		SpoofChk: v.Spoofchk, Trust: v.Trust != 0, LinkState: v.LinkState,
		MinTxRate: v.MinTxRate, MaxTxRate: v.MaxTxRate,
	}
}

// Desired is the PF-side state that settings ask for, starting from cur.
func Desired(cur *PFSettings, s *config.Settings) *PFSettings {
	d := *cur
	if s.MAC != nil {
		d.MAC = s.MAC.String()
	}
	if s.Vlan != nil {
		d.Vlan, d.QoS, d.VlanProto = *s.Vlan, 0, 0x8100
	}
	if s.VlanQoS != nil {
		d.QoS = *s.VlanQoS
	}
	if s.VlanProto != nil {
		d.VlanProto = *s.VlanProto
	}
	if s.SpoofChk != nil {
		d.SpoofChk = *s.SpoofChk
	}
	if s.Trust != nil {
		d.Trust = *s.Trust
	}
	if s.LinkState != nil {
		d.LinkState = *s.LinkState
	}
	if s.MinTxRate != nil {
		d.MinTxRate = *s.MinTxRate
	}
	if s.MaxTxRate != nil {
		d.MaxTxRate = *s.MaxTxRate
	}
	return &d
}

// Neutral is the PF-side state a VF has when nobody configured it: no admin
// MAC, no VLAN, spoof checking on, not trusted, link state auto, no rate
// limits. Only the fields that settings name are taken from it.
func Neutral(cur *PFSettings, s *config.Settings) *PFSettings {
	n := *cur
	if s.MAC != nil {
		n.MAC = "00:00:00:00:00:00"
	}
	if s.Vlan != nil || s.VlanQoS != nil || s.VlanProto != nil {
		n.Vlan, n.QoS, n.VlanProto = 0, 0, 0x8100
	}
	if s.SpoofChk != nil {
		n.SpoofChk = true
	}
	if s.Trust != nil {
		n.Trust = false
	}
	if s.LinkState != nil {
		n.LinkState = attach.LinkStateAuto
	}
	if s.MinTxRate != nil || s.MaxTxRate != nil {
		n.MinTxRate, n.MaxTxRate = 0, 0
	}
	return &n
}

// SetPFSettings moves VF idx from cur to want, touching only the fields that
// differ, so that restoring a setting the driver never accepted (igb refuses
// link_state) does not fail a second time.
func SetPFSettings(h *netlink.Handle, pf netlink.Link, idx int, cur, want *PFSettings) error {
	name := pf.Attrs().Name
	refused := func(field string, value any, err error) error {
		return fmt.Errorf("setting %s %v on VF %d of %s: %w: %w", field, value, idx, name, ErrRefused, err)
	}
	if cur.MAC != want.MAC {
		mac, err := net.ParseMAC(want.MAC)
		if err != nil {
			return fmt.Errorf("VF %d of %s: bad MAC %q: %w", idx, name, want.MAC, err)
		}
		if err := h.LinkSetVfHardwareAddr(pf, idx, mac); err != nil {
			return refused("mac", want.MAC, err)
		}
	}
	if cur.Vlan != want.Vlan || cur.QoS != want.QoS || cur.VlanProto != want.VlanProto {
		var err error
		if want.VlanProto == 0x8100 {
			// The plain IFLA_VF_VLAN is what every driver supports.
			err = h.LinkSetVfVlanQos(pf, idx, want.Vlan, want.QoS)
		} else {
			err = h.LinkSetVfVlanQosProto(pf, idx, want.Vlan, want.QoS, want.VlanProto)
		}
		if err != nil {
			return refused("vlan", fmt.Sprintf("%d qos %d proto %#x", want.Vlan, want.QoS, want.VlanProto), err)
		}
	}
	if cur.SpoofChk != want.SpoofChk {
		if err := h.LinkSetVfSpoofchk(pf, idx, want.SpoofChk); err != nil {
			return refused("spoofchk", want.SpoofChk, err)
		}
	}
	if cur.Trust != want.Trust {
		if err := h.LinkSetVfTrust(pf, idx, want.Trust); err != nil {
			return refused("trust", want.Trust, err)
		}
	}
	if cur.LinkState != want.LinkState {
		if err := h.LinkSetVfState(pf, idx, want.LinkState); err != nil {
			return refused("link_state", attach.LinkStateName(want.LinkState), err)
		}
	}
	if cur.MinTxRate != want.MinTxRate || cur.MaxTxRate != want.MaxTxRate {
		if err := h.LinkSetVfRate(pf, idx, int(want.MinTxRate), int(want.MaxTxRate)); err != nil {
			field, value := "max_tx_rate", want.MaxTxRate
			if cur.MinTxRate != want.MinTxRate {
				field, value = "min_tx_rate", want.MinTxRate
			}
			return refused(field, fmt.Sprintf("%d Mbps", value), err)
		}
	}
	return nil
}

// Mismatches lists the fields where got differs from want, for CHECK.
func Mismatches(got, want *PFSettings) []string {
	var out []string
	add := func(field string, g, w any) {
		if g != w {
			out = append(out, fmt.Sprintf("%s is %v, want %v", field, g, w))
		}
	}
	add("mac", got.MAC, want.MAC)
	add("vlan", got.Vlan, want.Vlan)
	add("vlanQoS", got.QoS, want.QoS)
	add("vlanProto", got.VlanProto, want.VlanProto)
	add("spoofchk", got.SpoofChk, want.SpoofChk)
	add("trust", got.Trust, want.Trust)
	add("link_state", attach.LinkStateName(got.LinkState), attach.LinkStateName(want.LinkState))
	add("min_tx_rate", got.MinTxRate, want.MinTxRate)
	add("max_tx_rate", got.MaxTxRate, want.MaxTxRate)
	return out
}
