// Package config decodes and validates fastpath's network configuration.
//
// Field names and meanings follow sriov-cni so that a NetworkAttachmentDefinition
// written for sriov-cni works unchanged with "type": "fastpath". Everything is
// validated here, before anything on the host changes.
package config

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/node"
)

// VLAN protocols as the config names them.
const (
	VlanProto8021Q  = "802.1q"
	VlanProto8021AD = "802.1ad"
)

// NetConf is the network configuration as fastpath reads it from stdin.
type NetConf struct {
	types.PluginConf

	DeviceID  string  `json:"deviceID,omitempty"`
	PCIBusID  string  `json:"pciBusID,omitempty"`
	Vlan      *int    `json:"vlan,omitempty"`
	VlanQoS   *int    `json:"vlanQoS,omitempty"`
	VlanProto *string `json:"vlanProto,omitempty"`
	MAC       string  `json:"mac,omitempty"`
	SpoofChk  string  `json:"spoofchk,omitempty"`
	Trust     string  `json:"trust,omitempty"`
	LinkState string  `json:"link_state,omitempty"`
	MinTxRate *int    `json:"min_tx_rate,omitempty"`
	MaxTxRate *int    `json:"max_tx_rate,omitempty"`
	MTU       *int    `json:"mtu,omitempty"`
	LogLevel  string  `json:"logLevel,omitempty"`
	LogFile   string  `json:"logFile,omitempty"`

	// Mode is "vhostuser" for a vhost-user socket; empty for a VF, whose
	// bound driver decides between the kernel and the userspace mode.
	Mode      string         `json:"mode,omitempty"`
	VhostUser *VhostUserConf `json:"vhostuser,omitempty"`

	// StateDir and SysfsRoot are node settings (package node), accepted
	// here with the node's own value only, as configs written for earlier
	// releases name them; BindNode sets them to the node's.
	StateDir  string `json:"stateDir,omitempty"`
	SysfsRoot string `json:"sysfsRoot,omitempty"`
	// Node holds the node's settings, LogPath the log file in its log
	// directory ("" for stderr): both from BindNode.
	Node    *node.Settings `json:"-"`
	LogPath string         `json:"-"`

	RuntimeConfig struct {
		DeviceID string `json:"deviceID,omitempty"`
		MAC      string `json:"mac,omitempty"`
		// DeviceInfoFile is where the runtime wants the device-info file
		// (capability CNIDeviceInfoFile).
		DeviceInfoFile string `json:"CNIDeviceInfoFile,omitempty"`
	} `json:"runtimeConfig,omitempty"`
}

// Settings is the validated, resolved form of a NetConf for one attachment:
// what fastpath will apply to the VF. Nil pointers mean "leave untouched".
type Settings struct {
	DeviceID       string
	DeviceInfoFile string
	MAC            net.HardwareAddr
	Vlan           *int
	VlanQoS        *int
	VlanProto      *int // ethertype, 0x8100 or 0x88a8
	SpoofChk       *bool
	Trust          *bool
	LinkState      *uint32
	MinTxRate      *uint32
	MaxTxRate      *uint32
	MTU            int
}

// PFSideRequested tells whether any setting needs the PF's VF table.
func (s *Settings) PFSideRequested() bool { return len(s.pfSideFields()) > 0 }

// Parse decodes stdin. It fails with code 6 on malformed JSON and code 7 on
// bad values; it does not resolve the device (ADD and CHECK need it, DEL, GC
// and STATUS may run without one). BindNode comes next.
func Parse(stdin []byte) (*NetConf, error) {
	conf := &NetConf{}
	if err := json.Unmarshal(stdin, conf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, fmt.Sprintf("decoding network config: %v", err), "")
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, fmt.Sprintf("decoding prevResult: %v", err), "")
	}
	if _, err := ParseLogLevel(conf.LogLevel); err != nil {
		return nil, err
	}
	return conf, nil
}

// Resolve validates every field and merges the MAC sources: runtimeConfig
// wins over CNI_ARGS MAC=, which wins over the config's "mac".
func (c *NetConf) Resolve(args *Args) (*Settings, error) {
	s := &Settings{DeviceID: c.Device()}
	switch c.Mode {
	case "", attach.ModeVhostUser:
	default:
		return nil, invalid("mode", c.Mode, `want "vhostuser" or none`)
	}
	if c.Mode != attach.ModeVhostUser && s.DeviceID != "" && !isPCIAddr(s.DeviceID) {
		return nil, invalid("deviceID", s.DeviceID, "want a PCI address like 0000:01:10.0")
	}
	if f := c.RuntimeConfig.DeviceInfoFile; f != "" {
		if !node.IsCleanAbs(f) || !node.Within(f, c.Node.DeviceInfoDir) || f == c.Node.DeviceInfoDir {
			return nil, invalid("runtimeConfig.CNIDeviceInfoFile", f, fmt.Sprintf("want a clean absolute path in the node's device-info directory %s (%s)", c.Node.DeviceInfoDir, c.Node.Describe()))
		}
		s.DeviceInfoFile = f
	}
	var err error
	if s.MAC, err = c.ResolveMAC(args); err != nil {
		return nil, err
	}
	if err := c.resolveVlan(s); err != nil {
		return nil, err
	}
	if s.SpoofChk, err = onOff("spoofchk", c.SpoofChk); err != nil {
		return nil, err
	}
	if s.Trust, err = onOff("trust", c.Trust); err != nil {
		return nil, err
	}
	if err := c.resolveLinkState(s); err != nil {
		return nil, err
	}
	if err := c.resolveRates(s); err != nil {
		return nil, err
	}
	if c.MTU != nil {
		if *c.MTU < 68 || *c.MTU > 65535 {
			return nil, invalid("mtu", fmt.Sprint(*c.MTU), "want 68-65535")
		}
		s.MTU = *c.MTU
	}
	return s, nil
}

// Device is the VF's PCI address from wherever the runtime put it, in the
// lower case that sysfs uses.
func (c *NetConf) Device() string {
	switch {
	case c.RuntimeConfig.DeviceID != "":
		return strings.ToLower(c.RuntimeConfig.DeviceID)
	case c.DeviceID != "":
		return strings.ToLower(c.DeviceID)
	}
	return strings.ToLower(c.PCIBusID)
}

// ResolveMAC validates every MAC source, so that a bad config "mac" shows at
// once and not only for the first pod that comes without an override, and
// returns the one that wins (nil: none). Unlike Resolve it needs no node
// settings, so that it serves a record's config, which is never bound.
func (c *NetConf) ResolveMAC(args *Args) (net.HardwareAddr, error) {
	argMAC := ""
	if args != nil {
		argMAC = args.MAC
	}
	var win net.HardwareAddr
	for _, src := range []struct{ field, value string }{
		{"mac", c.MAC}, {"CNI_ARGS MAC", argMAC}, {"runtimeConfig.mac", c.RuntimeConfig.MAC},
	} {
		if src.value == "" {
			continue
		}
		mac, err := parseMAC(src.field, src.value)
		if err != nil {
			return nil, err
		}
		win = mac
	}
	return win, nil
}

func parseMAC(field, value string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(value)
	if err != nil || len(mac) != 6 {
		return nil, invalid(field, value, "want a 6-byte MAC address")
	}
	if mac[0]&1 == 1 {
		return nil, invalid(field, value, "a multicast MAC cannot be an interface address")
	}
	if isZero(mac) {
		return nil, invalid(field, value, "the zero MAC cannot be an interface address")
	}
	return mac, nil
}

func (c *NetConf) resolveVlan(s *Settings) error {
	if c.Vlan != nil {
		if *c.Vlan < 0 || *c.Vlan > 4094 {
			return invalid("vlan", fmt.Sprint(*c.Vlan), "want 0-4094")
		}
		s.Vlan = c.Vlan
	}
	if c.VlanQoS != nil {
		if *c.VlanQoS < 0 || *c.VlanQoS > 7 {
			return invalid("vlanQoS", fmt.Sprint(*c.VlanQoS), "want 0-7")
		}
		if *c.VlanQoS != 0 && (c.Vlan == nil || *c.Vlan == 0) {
			return invalid("vlanQoS", fmt.Sprint(*c.VlanQoS), "a non-zero QoS needs a non-zero vlan")
		}
		s.VlanQoS = c.VlanQoS
	}
	if c.VlanProto != nil {
		var proto int
		switch strings.ToLower(*c.VlanProto) {
		case VlanProto8021Q:
			proto = 0x8100
		case VlanProto8021AD:
			proto = 0x88a8
		default:
			return invalid("vlanProto", *c.VlanProto, "want 802.1q or 802.1ad")
		}
		if proto != 0x8100 && (c.Vlan == nil || *c.Vlan == 0) {
			return invalid("vlanProto", *c.VlanProto, "802.1ad needs a non-zero vlan")
		}
		s.VlanProto = &proto
	}
	return nil
}

func (c *NetConf) resolveLinkState(s *Settings) error {
	if c.LinkState == "" {
		return nil
	}
	st, ok := attach.ParseLinkState(c.LinkState)
	if !ok {
		return invalid("link_state", c.LinkState, "want auto, enable or disable")
	}
	s.LinkState = &st
	return nil
}

func (c *NetConf) resolveRates(s *Settings) error {
	for _, r := range []struct {
		field string
		in    *int
		out   **uint32
	}{{"min_tx_rate", c.MinTxRate, &s.MinTxRate}, {"max_tx_rate", c.MaxTxRate, &s.MaxTxRate}} {
		if r.in == nil {
			continue
		}
		if *r.in < 0 || *r.in > 1<<31-1 {
			return invalid(r.field, fmt.Sprint(*r.in), "want a rate in Mbps from 0 to 2147483647")
		}
		v := uint32(*r.in)
		*r.out = &v
	}
	if s.MinTxRate != nil && s.MaxTxRate != nil && *s.MaxTxRate != 0 && *s.MinTxRate > *s.MaxTxRate {
		return invalid("min_tx_rate", fmt.Sprint(*s.MinTxRate), fmt.Sprintf("more than max_tx_rate %d", *s.MaxTxRate))
	}
	return nil
}

func onOff(field, v string) (*bool, error) {
	switch v {
	case "":
		return nil, nil
	case "on":
		t := true
		return &t, nil
	case "off":
		f := false
		return &f, nil
	}
	return nil, invalid(field, v, `want "on" or "off"`)
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// invalid builds the CNI error 7 that names the field and the value.
func invalid(field, value, why string) error {
	return types.NewError(types.ErrInvalidNetworkConfig,
		fmt.Sprintf("invalid %s %q: %s", field, value, why), "")
}
