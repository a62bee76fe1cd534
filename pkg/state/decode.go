package state

import (
	"encoding/json"
	"fmt"

	"github.com/fastpath-cni/fastpath/pkg/sriov"
)

// decodeRecord reads a record as json.Unmarshal into a Record would, but
// member by member as plain values: encoding/json's struct decoding builds
// caches for the type and every type it holds on first use, once per
// process, and for a record that was 12% of a vfio DEL's CPU in the emulated
// guest. As with json.Unmarshal, unknown members are ignored, null leaves a
// member as it is (a nested object's pointer nil), and a member of the
// wrong type is an error; unlike it, member names must match exactly
// (fastpath writes them so). TestDecodeRecordIsJSONUnmarshal holds the two
// to the same records.
func decodeRecord(b []byte, r *Record) error {
	d := &decoder{}
	m := d.object(b)
	d.member(m, "network", &r.Network)
	d.member(m, "containerID", &r.ContainerID)
	d.member(m, "ifname", &r.IfName)
	d.member(m, "netns", &r.NetNS)
	d.member(m, "mode", &r.Mode)
	d.member(m, "device", &r.Device)
	d.member(m, "pci", &r.PCI)
	d.member(m, "pf", &r.PF)
	d.member(m, "pfPCI", &r.PFPCI)
	d.member(m, "vfIndex", &r.VFIndex)
	d.member(m, "driver", &r.Driver)
	if v, ok := d.nested(m, "vhost"); ok {
		h := &Vhost{}
		r.Vhost = h
		d.member(v, "backend", &h.Backend)
		d.member(v, "ovsdb", &h.OVSDB)
		d.member(v, "bridge", &h.Bridge)
		d.member(v, "port", &h.Port)
		d.member(v, "role", &h.Role)
		d.member(v, "podDir", &h.PodDir)
		d.member(v, "socket", &h.Socket)
		d.member(v, "json", &h.JSON)
		d.member(v, "vlan", &h.Vlan)
	}
	d.member(m, "deviceInfoFile", &r.DeviceInfoFile)
	if v, ok := d.nested(m, "pfOrig"); ok {
		p := &sriov.PFSettings{}
		r.PFOrig = p
		d.member(v, "mac", &p.MAC)
		d.member(v, "vlan", &p.Vlan)
		d.member(v, "qos", &p.QoS)
		d.member(v, "vlanProto", &p.VlanProto)
		d.member(v, "spoofchk", &p.SpoofChk)
		d.member(v, "trust", &p.Trust)
		d.member(v, "linkState", &p.LinkState)
		d.member(v, "minTxRate", &p.MinTxRate)
		d.member(v, "maxTxRate", &p.MaxTxRate)
	}
	if v, ok := d.nested(m, "netdevOrig"); ok {
		n := &sriov.NetdevState{}
		r.NetdevOrig = n
		d.member(v, "index", &n.Index)
		d.member(v, "name", &n.Name)
		d.member(v, "mac", &n.MAC)
		d.member(v, "mtu", &n.MTU)
		d.member(v, "up", &n.Up)
		d.member(v, "perm", &n.Perm)
	}
	if raw, ok := m["config"]; ok {
		// A RawMessage takes the member as it is, null included.
		r.Config = append(json.RawMessage(nil), raw...)
	}
	d.member(m, "args", &r.Args)
	return d.err
}

// decoder keeps the first error of a record's decoding.
type decoder struct{ err error }

// object splits a JSON object into its members; null is an object with none.
func (d *decoder) object(b []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if d.err == nil {
		d.err = json.Unmarshal(b, &m)
	}
	return m
}

// nested is member k's object, if it is there and not null.
func (d *decoder) nested(m map[string]json.RawMessage, k string) (map[string]json.RawMessage, bool) {
	raw, ok := m[k]
	if !ok || string(raw) == "null" || d.err != nil {
		return nil, false
	}
	v := d.object(raw)
	if d.err != nil {
		d.err = fmt.Errorf("member %q: %w", k, d.err)
		return nil, false
	}
	return v, true
}

// member decodes member k, if it is there, into v, which points to a
// string, number or bool: a plain value's decoding needs no per-type cache.
func (d *decoder) member(m map[string]json.RawMessage, k string, v any) {
	raw, ok := m[k]
	if !ok || d.err != nil {
		return
	}
	if err := json.Unmarshal(raw, v); err != nil {
		d.err = fmt.Errorf("member %q: %w", k, err)
	}
}
