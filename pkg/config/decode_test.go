package config_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/pkg/config"
)

// jsonNames lists the member names encoding/json gives t's fields, embedded
// structs' included.
func jsonNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-":
		case f.Anonymous && tag == "":
			names = append(names, jsonNames(f.Type)...)
		case tag != "":
			names = append(names, tag)
		default:
			names = append(names, f.Name)
		}
	}
	return names
}

// Every member of NetConf has its entry in netConfMembers, and no entry is
// for a member NetConf lacks: a field added to NetConf, or to the CNI
// library's PluginConf, fails here until decode.go handles it.
func TestDecodeMembersComplete(t *testing.T) {
	want := map[string]bool{}
	for _, n := range jsonNames(reflect.TypeFor[config.NetConf]()) {
		want[n] = true
		if config.CanonicalMember(n) != n {
			t.Errorf("member %q of NetConf has no entry in netConfMembers", n)
		}
	}
	for _, n := range config.MemberNames() {
		if !want[n] {
			t.Errorf("netConfMembers has %q, which NetConf lacks", n)
		}
	}
}

// full is a config with every member of NetConf set.
func full(t *testing.T) []byte {
	v, q, proto, mtu := 100, 3, "802.1ad", 1500
	c := config.NetConf{
		PluginConf: types.PluginConf{
			CNIVersion: "1.1.0", Name: "n", Type: "fastpath", Capabilities: map[string]bool{"mac": true},
			IPAM: types.IPAM{Type: "host-local"}, DNS: types.DNS{Nameservers: []string{"10.0.0.53"}, Domain: "d", Search: []string{"s"}, Options: []string{"o"}},
			RawPrevResult:    map[string]any{"cniVersion": "1.1.0", "ips": []any{}},
			ValidAttachments: []types.GCAttachment{{ContainerID: "c", IfName: "net1"}},
		},
		DeviceID: "0000:01:10.0", PCIBusID: "0000:01:10.2", Vlan: &v, VlanQoS: &q, VlanProto: &proto,
		MAC: "02:00:00:00:00:01", SpoofChk: "on", Trust: "off", LinkState: "auto", MinTxRate: &q, MaxTxRate: &v,
		MTU: &mtu, LogLevel: "debug", LogFile: "/l", Mode: config.ModeVhostUser, StateDir: "/s", SysfsRoot: "/sys2",
		VhostUser: &config.VhostUserConf{Backend: "ovs", Bridge: "br0", OVSDB: "unix:/x", SocketRole: "client", OVSSocketDir: "/o",
			Vlan: &v, MTU: &mtu, Queues: &q, PodsDir: "/p", DirMode: "0750", FileMode: "0660", Group: &q},
	}
	c.RuntimeConfig.DeviceID, c.RuntimeConfig.MAC, c.RuntimeConfig.DeviceInfoFile = "0000:01:10.4", "02:00:00:00:00:02", "/d"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameAsUnmarshal checks that decodeNetConf and json.Unmarshal agree on b:
// both fail, or both give the same config.
func sameAsUnmarshal(t *testing.T, b []byte) {
	t.Helper()
	var got, want config.NetConf
	errGot, errWant := config.DecodeNetConf(b, &got), json.Unmarshal(b, &want)
	if (errGot == nil) != (errWant == nil) {
		t.Fatalf("on %s\ndecodeNetConf: %v\njson.Unmarshal: %v", b, errGot, errWant)
	}
	if errGot == nil && !reflect.DeepEqual(got, want) {
		t.Errorf("on %s\ndecodeNetConf gave  %+v\njson.Unmarshal gave %+v", b, got, want)
	}
}

func TestDecodeLikeUnmarshal(t *testing.T) {
	b := full(t)
	var c config.NetConf
	if err := config.DecodeNetConf(b, &c); err != nil || c.VhostUser == nil || c.RuntimeConfig.DeviceInfoFile != "/d" || len(c.ValidAttachments) != 1 {
		t.Fatalf("the full config decoded as %+v, %v", c, err)
	}
	sameAsUnmarshal(t, b)
	for _, s := range append(fzConfigs,
		`null`, `[]`, `"x"`, `{}`, `{"VLAN":5,"MTU":1400,"DeviceId":"0000:01:10.0"}`, `{"vlan":5,"vlan":6}`,
		`{"vlan":null,"mac":null,"ipam":null}`, `{"vlan":"5"}`, `{"mtu":1.5}`, `{"ipam":{"type":5}}`,
		`{"unknown":{"deep":[1,2]},"name":"n"}`, `{"vhostuser":{"vlan":"x"}}`, `{"name":"n"`,
		`{"cni.dev/valid-attachments":[{"containerID":"c","ifname":"i"}]}`) {
		sameAsUnmarshal(t, []byte(s))
	}
}

// A member of the wrong type is named in the error, with its value.
func TestDecodeErrorNamesMember(t *testing.T) {
	for in, want := range map[string]string{
		`{"vlan":"100"}`:        `vlan = "100"`,
		`{"MTU":1500.5}`:        `mtu = 1500.5`,
		`{"runtimeConfig":"x"}`: `runtimeConfig = "x"`,
		`[1,2]`:                 `want a JSON object, got [1,2]`,
	} {
		var c config.NetConf
		if err := config.DecodeNetConf([]byte(in), &c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config.DecodeNetConf(%s) = %v, want an error with %q", in, err, want)
		}
	}
}

// foldDuplicates tells whether b is an object with two members whose names
// differ only in case, where decodeNetConf's order differs from
// json.Unmarshal's on purpose.
func foldDuplicates(b []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	seen := map[string]bool{}
	for k := range m {
		if n := config.CanonicalMember(k); n != "" {
			if seen[n] {
				return true
			}
			seen[n] = true
		}
	}
	return false
}

func FuzzDecodeLikeUnmarshal(f *testing.F) {
	for _, s := range fzConfigs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !foldDuplicates(b) {
			sameAsUnmarshal(t, b)
		}
	})
}
