package state

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// encodeRecord writes r exactly as json.Marshal would, without reflection:
// encoding/json builds its encoders for a type on first use, once per
// process, and for a record with its nested types that was 15% of a VF
// ADD's CPU in the emulated test guest. TestEncodeRecordIsJSONMarshal holds
// it to json.Marshal for every field, so a field added to Record and not
// here fails that test.
func encodeRecord(r *Record) ([]byte, error) {
	e := &encoder{}
	e.open()
	e.str("network", r.Network)
	e.str("containerID", r.ContainerID)
	e.str("ifname", r.IfName)
	e.str("netns", r.NetNS)
	e.str("mode", r.Mode)
	e.str("device", r.Device)
	e.strOmit("pci", r.PCI)
	e.str("pf", r.PF)
	e.str("pfPCI", r.PFPCI)
	e.int("vfIndex", int64(r.VFIndex))
	e.str("driver", r.Driver)
	if v := r.Vhost; v != nil {
		e.key("vhost")
		e.open()
		e.str("backend", v.Backend)
		e.strOmit("ovsdb", v.OVSDB)
		e.strOmit("bridge", v.Bridge)
		e.strOmit("port", v.Port)
		e.str("role", v.Role)
		e.str("podDir", v.PodDir)
		e.str("socket", v.Socket)
		e.str("json", v.JSON)
		if v.Vlan != 0 {
			e.int("vlan", int64(v.Vlan))
		}
		e.close()
	}
	e.strOmit("deviceInfoFile", r.DeviceInfoFile)
	if p := r.PFOrig; p != nil {
		e.key("pfOrig")
		e.open()
		e.str("mac", p.MAC)
		e.int("vlan", int64(p.Vlan))
		e.int("qos", int64(p.QoS))
		e.int("vlanProto", int64(p.VlanProto))
		e.bool("spoofchk", p.SpoofChk)
		e.bool("trust", p.Trust)
		e.int("linkState", int64(p.LinkState))
		e.int("minTxRate", int64(p.MinTxRate))
		e.int("maxTxRate", int64(p.MaxTxRate))
		e.close()
	}
	if n := r.NetdevOrig; n != nil {
		e.key("netdevOrig")
		e.open()
		e.int("index", int64(n.Index))
		e.str("name", n.Name)
		e.str("mac", n.MAC)
		e.int("mtu", int64(n.MTU))
		e.bool("up", n.Up)
		e.strOmit("perm", n.Perm)
		e.close()
	}
	e.key("config")
	if r.Config == nil {
		e.b = append(e.b, "null"...)
	} else {
		// As json.Marshal writes a RawMessage: compacted, HTML
		// characters escaped, and refused if it is not JSON.
		var compact, escaped bytes.Buffer
		if err := json.Compact(&compact, r.Config); err != nil {
			return nil, err
		}
		json.HTMLEscape(&escaped, compact.Bytes())
		e.b = append(e.b, escaped.Bytes()...)
	}
	e.strOmit("args", r.Args)
	e.close()
	return e.b, nil
}

// encoder appends the members of JSON objects to b.
type encoder struct {
	b []byte
	// more is set once the innermost open object has a member.
	more bool
}

func (e *encoder) open()  { e.b, e.more = append(e.b, '{'), false }
func (e *encoder) close() { e.b, e.more = append(e.b, '}'), true }

func (e *encoder) key(k string) {
	if e.more {
		e.b = append(e.b, ',')
	}
	e.b = appendString(e.b, k)
	e.b = append(e.b, ':')
	e.more = true
}

func (e *encoder) str(k, v string) {
	e.key(k)
	e.b = appendString(e.b, v)
}

func (e *encoder) strOmit(k, v string) {
	if v != "" {
		e.str(k, v)
	}
}

func (e *encoder) int(k string, v int64) {
	e.key(k)
	e.b = strconv.AppendInt(e.b, v, 10)
}

func (e *encoder) bool(k string, v bool) {
	e.key(k)
	e.b = strconv.AppendBool(e.b, v)
}

// appendString quotes s as encoding/json does (HTML characters escaped,
// invalid UTF-8 replaced): a plain string's encoder needs no reflection.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}
