package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// decodeNetConf decodes a network config as json.Unmarshal would into c, but
// member by member: json.Unmarshal first builds, by reflection, a table of
// NetConf's and PluginConf's fields, which took 1.0 ms of its 1.4 ms in
// each call of the emulated test guest (a plugin decodes once per process,
// so the table is never reused). The members' values are still decoded by
// encoding/json, each into its own field.
//
// As json.Unmarshal, it matches member names regardless of case, an exact
// match first; unknown members are ignored and the last of repeated members
// wins. Unlike it, members that differ only in case are taken in sorted
// order, not in input order.
func decodeNetConf(b []byte, c *NetConf) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return fmt.Errorf("want a JSON object, got %s", clip(b))
		}
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// Members matched by case folding first, so that an exact match wins.
	for _, exact := range []bool{false, true} {
		for _, k := range keys {
			mb := member(k)
			if mb == nil || (mb.name == k) != exact {
				continue
			}
			if err := mb.decode(c, m[k]); err != nil {
				return fmt.Errorf("%s = %s: %w", mb.name, clip(m[k]), err)
			}
		}
	}
	return nil
}

func member(k string) *netConfMember {
	for i := range netConfMembers {
		if netConfMembers[i].name == k {
			return &netConfMembers[i]
		}
	}
	for i := range netConfMembers {
		if strings.EqualFold(netConfMembers[i].name, k) {
			return &netConfMembers[i]
		}
	}
	return nil
}

// clip shortens a member's value for an error message.
func clip(raw []byte) string {
	if len(raw) > 64 {
		return string(raw[:61]) + "..."
	}
	return string(raw)
}

type netConfMember struct {
	name   string
	decode func(c *NetConf, raw []byte) error
}

// netConfMembers are NetConf's members, with types.PluginConf's; a test
// fails when a field of either has no entry here.
var netConfMembers = []netConfMember{
	{"cniVersion", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.CNIVersion) }},
	{"name", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.Name) }},
	{"type", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.Type) }},
	{"capabilities", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.Capabilities) }},
	{"ipam", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.IPAM) }},
	{"dns", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.DNS) }},
	{"prevResult", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.RawPrevResult) }},
	{"cni.dev/valid-attachments", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.ValidAttachments) }},
	{"deviceID", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.DeviceID) }},
	{"pciBusID", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.PCIBusID) }},
	{"vlan", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.Vlan) }},
	{"vlanQoS", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.VlanQoS) }},
	{"vlanProto", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.VlanProto) }},
	{"mac", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.MAC) }},
	{"spoofchk", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.SpoofChk) }},
	{"trust", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.Trust) }},
	{"link_state", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.LinkState) }},
	{"min_tx_rate", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.MinTxRate) }},
	{"max_tx_rate", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.MaxTxRate) }},
	{"mtu", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.MTU) }},
	{"logLevel", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.LogLevel) }},
	{"logFile", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.LogFile) }},
	{"mode", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.Mode) }},
	{"vhostuser", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.VhostUser) }},
	{"stateDir", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.StateDir) }},
	{"sysfsRoot", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.SysfsRoot) }},
	{"runtimeConfig", func(c *NetConf, b []byte) error { return json.Unmarshal(b, &c.RuntimeConfig) }},
}
