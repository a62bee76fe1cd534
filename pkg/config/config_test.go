package config_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/node"
)

// wantCNIError fails unless err is a *types.Error with code and a message
// containing every one of parts.
func wantCNIError(t *testing.T, err error, code uint, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want CNI error %d", code)
	}
	var te *types.Error
	if !errors.As(err, &te) {
		t.Fatalf("got %T %v, want *types.Error", err, err)
	}
	if te.Code != code {
		t.Errorf("code = %d (%s), want %d", te.Code, te.Msg, code)
	}
	for _, p := range parts {
		if !strings.Contains(te.Msg, p) {
			t.Errorf("message %q does not contain %q", te.Msg, p)
		}
	}
}

// conf builds a plugin config from the base fields plus extra.
func conf(extra string) []byte {
	base := `"cniVersion":"1.0.0","name":"net1","type":"fastpath"`
	if extra == "" {
		return []byte("{" + base + "}")
	}
	return []byte("{" + base + "," + extra + "}")
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
	}{
		{"empty", ""},
		{"truncated", `{"cniVersion":"1.0.0",`},
		{"not JSON", `cniVersion=1.0.0`},
		{"array", `[]`},
		{"vlan is a string", string(conf(`"vlan":"100"`))},
		{"mtu is a float", string(conf(`"mtu":1500.5`))},
		{"runtimeConfig is a string", string(conf(`"runtimeConfig":"x"`))},
		{"prevResult of the wrong shape", string(conf(`"prevResult":{"ips":"10.0.0.1"}`))},
		{"prevResult of an unknown version", `{"cniVersion":"9.9.9","name":"n","type":"fastpath","prevResult":{"cniVersion":"9.9.9"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tc.stdin))
			if c != nil {
				t.Errorf("got config %+v with the error", c)
			}
			wantCNIError(t, err, types.ErrDecodingFailure)
		})
	}
}

func TestParseLogLevelField(t *testing.T) {
	for _, lvl := range []string{"", "debug", "info", "warning", "warn", "error", "panic", "DEBUG"} {
		t.Run("ok "+lvl, func(t *testing.T) {
			if _, err := config.Parse(conf(fmt.Sprintf(`"logLevel":%q`, lvl))); err != nil {
				t.Errorf("logLevel %q: %v", lvl, err)
			}
		})
	}
	for _, lvl := range []string{"verbose", "trace", "fatal", "0", " info"} {
		t.Run("bad "+lvl, func(t *testing.T) {
			c, err := config.Parse(conf(fmt.Sprintf(`"logLevel":%q`, lvl)))
			if c != nil {
				t.Errorf("got config with the error")
			}
			wantCNIError(t, err, types.ErrInvalidNetworkConfig, "logLevel", fmt.Sprintf("%q", lvl))
		})
	}
}

func TestParseFields(t *testing.T) {
	c, err := config.Parse(conf(`"deviceID":"0000:01:10.0","pciBusID":"0000:01:10.2",
		"vlan":100,"vlanQoS":3,"vlanProto":"802.1ad","mac":"02:00:00:00:00:01",
		"spoofchk":"on","trust":"off","link_state":"enable","min_tx_rate":10,"max_tx_rate":100,
		"mtu":9000,"logLevel":"debug","logFile":"/tmp/fp.log",
		"runtimeConfig":{"deviceID":"0000:01:10.4","mac":"02:00:00:00:00:02"},
		"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.0.0.2/24","interface":0}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "net1" || c.Type != "fastpath" || c.CNIVersion != "1.0.0" {
		t.Errorf("plugin conf = %q %q %q", c.Name, c.Type, c.CNIVersion)
	}
	if c.DeviceID != "0000:01:10.0" || c.PCIBusID != "0000:01:10.2" || c.RuntimeConfig.DeviceID != "0000:01:10.4" {
		t.Errorf("device fields = %q %q %q", c.DeviceID, c.PCIBusID, c.RuntimeConfig.DeviceID)
	}
	if c.Vlan == nil || *c.Vlan != 100 || c.VlanQoS == nil || *c.VlanQoS != 3 || c.VlanProto == nil || *c.VlanProto != "802.1ad" {
		t.Errorf("vlan fields = %v %v %v", c.Vlan, c.VlanQoS, c.VlanProto)
	}
	if c.MAC != "02:00:00:00:00:01" || c.RuntimeConfig.MAC != "02:00:00:00:00:02" {
		t.Errorf("macs = %q %q", c.MAC, c.RuntimeConfig.MAC)
	}
	if c.SpoofChk != "on" || c.Trust != "off" || c.LinkState != "enable" {
		t.Errorf("spoofchk, trust, link_state = %q %q %q", c.SpoofChk, c.Trust, c.LinkState)
	}
	if c.MinTxRate == nil || *c.MinTxRate != 10 || c.MaxTxRate == nil || *c.MaxTxRate != 100 || c.MTU == nil || *c.MTU != 9000 {
		t.Errorf("rates, mtu = %v %v %v", c.MinTxRate, c.MaxTxRate, c.MTU)
	}
	if c.LogLevel != "debug" || c.LogFile != "/tmp/fp.log" {
		t.Errorf("log = %q %q", c.LogLevel, c.LogFile)
	}
	if c.PrevResult == nil {
		t.Fatal("prevResult not decoded")
	}
	if c.RawPrevResult != nil {
		t.Error("raw prevResult left behind")
	}
	// Absent fields stay nil: "leave untouched" must be told from zero.
	c, err = config.Parse(conf(""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Vlan != nil || c.VlanQoS != nil || c.VlanProto != nil || c.MinTxRate != nil || c.MaxTxRate != nil || c.MTU != nil {
		t.Errorf("absent fields not nil: %+v", c)
	}
}

func ptr[T any](v T) *T { return &v }

func TestResolveInvalid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		args  *config.Args
		field string
		value string
	}{
		// deviceID, from each of its sources
		{"deviceID without function", `"deviceID":"0000:01:10"`, nil, "deviceID", "0000:01:10"},
		{"deviceID without domain", `"deviceID":"01:10.0"`, nil, "deviceID", "01:10.0"},
		{"deviceID device beyond 1f", `"deviceID":"0000:01:20.0"`, nil, "deviceID", "0000:01:20.0"},
		{"deviceID function 8", `"deviceID":"0000:01:10.8"`, nil, "deviceID", "0000:01:10.8"},
		{"deviceID not hex", `"deviceID":"0000:0g:10.0"`, nil, "deviceID", "0000:0g:10.0"},
		{"deviceID trailing space", `"deviceID":"0000:01:10.0 "`, nil, "deviceID", "0000:01:10.0 "},
		{"deviceID path", `"deviceID":"../../../etc"`, nil, "deviceID", "../../../etc"},
		{"deviceID interface name", `"deviceID":"ens1f0v0"`, nil, "deviceID", "ens1f0v0"},
		{"pciBusID bad", `"pciBusID":"0000:01:10.0/x"`, nil, "deviceID", "0000:01:10.0/x"},
		{"runtimeConfig.deviceID bad", `"deviceID":"0000:01:10.0","runtimeConfig":{"deviceID":"bogus"}`, nil, "deviceID", "bogus"},

		// vlan
		{"vlan negative", `"vlan":-1`, nil, "vlan", "-1"},
		{"vlan 4095", `"vlan":4095`, nil, "vlan", "4095"},
		{"vlan 5000", `"vlan":5000`, nil, "vlan", "5000"},

		// vlanQoS
		{"vlanQoS negative", `"vlan":10,"vlanQoS":-1`, nil, "vlanQoS", "-1"},
		{"vlanQoS 8", `"vlan":10,"vlanQoS":8`, nil, "vlanQoS", "8"},
		{"vlanQoS without vlan", `"vlanQoS":3`, nil, "vlanQoS", "3"},
		{"vlanQoS with vlan 0", `"vlan":0,"vlanQoS":3`, nil, "vlanQoS", "3"},

		// vlanProto
		{"vlanProto unknown", `"vlan":10,"vlanProto":"802.1x"`, nil, "vlanProto", "802.1x"},
		{"vlanProto without dot", `"vlan":10,"vlanProto":"8021q"`, nil, "vlanProto", "8021q"},
		{"vlanProto ethertype", `"vlan":10,"vlanProto":"0x8100"`, nil, "vlanProto", "0x8100"},
		{"vlanProto empty", `"vlan":10,"vlanProto":""`, nil, "vlanProto", ""},
		{"802.1ad without vlan", `"vlanProto":"802.1ad"`, nil, "vlanProto", "802.1ad"},
		{"802.1ad with vlan 0", `"vlan":0,"vlanProto":"802.1ad"`, nil, "vlanProto", "802.1ad"},

		// mac, from each of its sources
		{"mac garbage", `"mac":"zz"`, nil, "mac", "zz"},
		{"mac 5 bytes", `"mac":"02:00:00:00:00"`, nil, "mac", "02:00:00:00:00"},
		{"mac EUI-64", `"mac":"02:00:00:00:00:00:00:01"`, nil, "mac", "02:00:00:00:00:00:00:01"},
		{"mac multicast", `"mac":"01:00:5e:00:00:01"`, nil, "mac", "01:00:5e:00:00:01"},
		{"mac multicast local", `"mac":"03:00:00:00:00:01"`, nil, "mac", "03:00:00:00:00:01"},
		{"mac broadcast", `"mac":"ff:ff:ff:ff:ff:ff"`, nil, "mac", "ff:ff:ff:ff:ff:ff"},
		{"mac zero", `"mac":"00:00:00:00:00:00"`, nil, "mac", "00:00:00:00:00:00"},
		{"config mac bad though runtimeConfig.mac wins", `"mac":"zz","runtimeConfig":{"mac":"02:00:00:00:00:09"}`, nil, "mac", "zz"},
		{"runtimeConfig.mac garbage", `"runtimeConfig":{"mac":"nope"}`, nil, "runtimeConfig.mac", "nope"},
		{"runtimeConfig.mac multicast", `"runtimeConfig":{"mac":"33:33:00:00:00:01"}`, nil, "runtimeConfig.mac", "33:33:00:00:00:01"},
		{"runtimeConfig.mac zero", `"runtimeConfig":{"mac":"00-00-00-00-00-00"}`, nil, "runtimeConfig.mac", "00-00-00-00-00-00"},
		{"runtimeConfig.mac bad over good others", `"mac":"02:00:00:00:00:01","runtimeConfig":{"mac":"x"}`,
			&config.Args{MAC: "02:00:00:00:00:02"}, "runtimeConfig.mac", "x"},
		{"CNI_ARGS MAC garbage", "", &config.Args{MAC: "02:00"}, "CNI_ARGS MAC", "02:00"},
		{"CNI_ARGS MAC multicast", "", &config.Args{MAC: "01:80:c2:00:00:00"}, "CNI_ARGS MAC", "01:80:c2:00:00:00"},
		{"CNI_ARGS MAC zero", "", &config.Args{MAC: "00:00:00:00:00:00"}, "CNI_ARGS MAC", "00:00:00:00:00:00"},
		{"CNI_ARGS MAC bad over good config", `"mac":"02:00:00:00:00:01"`, &config.Args{MAC: "bad"}, "CNI_ARGS MAC", "bad"},

		// spoofchk, trust
		{"spoofchk true", `"spoofchk":"true"`, nil, "spoofchk", "true"},
		{"spoofchk ON", `"spoofchk":"ON"`, nil, "spoofchk", "ON"},
		{"spoofchk enable", `"spoofchk":"enable"`, nil, "spoofchk", "enable"},
		{"spoofchk false", `"spoofchk":"false"`, nil, "spoofchk", "false"},
		{"spoofchk off with space", `"spoofchk":"off "`, nil, "spoofchk", "off "},
		{"trust 1", `"trust":"1"`, nil, "trust", "1"},
		{"trust true", `"trust":"true"`, nil, "trust", "true"},
		{"trust false", `"trust":"false"`, nil, "trust", "false"},
		{"trust 0", `"trust":"0"`, nil, "trust", "0"},
		{"trust Off", `"trust":"Off"`, nil, "trust", "Off"},
		{"trust yes", `"trust":"yes"`, nil, "trust", "yes"},

		// link_state
		{"link_state up", `"link_state":"up"`, nil, "link_state", "up"},
		{"link_state Enable", `"link_state":"Enable"`, nil, "link_state", "Enable"},
		{"link_state 1", `"link_state":"1"`, nil, "link_state", "1"},

		// rates
		{"min_tx_rate negative", `"min_tx_rate":-1`, nil, "min_tx_rate", "-1"},
		{"max_tx_rate negative", `"max_tx_rate":-5`, nil, "max_tx_rate", "-5"},
		{"max_tx_rate beyond 32 bits", `"max_tx_rate":4294967296`, nil, "max_tx_rate", "4294967296"},
		{"min above max", `"min_tx_rate":100,"max_tx_rate":50`, nil, "min_tx_rate", "100"},
		{"min just above max", `"min_tx_rate":1001,"max_tx_rate":1000`, nil, "min_tx_rate", "1001"},

		// mtu
		{"mtu 67", `"mtu":67`, nil, "mtu", "67"},
		{"mtu 0", `"mtu":0`, nil, "mtu", "0"},
		{"mtu negative", `"mtu":-1500`, nil, "mtu", "-1500"},
		{"mtu 65536", `"mtu":65536`, nil, "mtu", "65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse(conf(tc.extra))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			s, err := bound(t, c).Resolve(tc.args)
			if s != nil {
				t.Errorf("got settings %+v with the error", s)
			}
			wantCNIError(t, err, types.ErrInvalidNetworkConfig, "invalid "+tc.field+" ", fmt.Sprintf("%q", tc.value))
		})
	}
}

func TestResolveValid(t *testing.T) {
	mac := func(s string) net.HardwareAddr {
		m, err := net.ParseMAC(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		extra string
		args  *config.Args
		want  config.Settings
		pf    bool // PFSideRequested
	}{
		{"nothing", "", nil, config.Settings{}, false},
		{"nothing with empty args", "", &config.Args{}, config.Settings{}, false},
		{"deviceID", `"deviceID":"0000:3b:02.7"`, nil, config.Settings{DeviceID: "0000:3b:02.7"}, false},
		{"deviceID upper case is lowered as sysfs spells it", `"deviceID":"0000:AF:1F.7"`, nil, config.Settings{DeviceID: "0000:af:1f.7"}, false},
		{"deviceID from pciBusID", `"pciBusID":"0001:00:01.0"`, nil, config.Settings{DeviceID: "0001:00:01.0"}, false},

		{"vlan 0", `"vlan":0`, nil, config.Settings{Vlan: ptr(0)}, true},
		{"vlan 4094", `"vlan":4094`, nil, config.Settings{Vlan: ptr(4094)}, true},
		{"vlanQoS 0 without vlan", `"vlanQoS":0`, nil, config.Settings{VlanQoS: ptr(0)}, true},
		{"vlanQoS 7", `"vlan":1,"vlanQoS":7`, nil, config.Settings{Vlan: ptr(1), VlanQoS: ptr(7)}, true},
		{"802.1q without vlan", `"vlanProto":"802.1q"`, nil, config.Settings{VlanProto: ptr(0x8100)}, true},
		{"802.1q", `"vlan":10,"vlanProto":"802.1q"`, nil, config.Settings{Vlan: ptr(10), VlanProto: ptr(0x8100)}, true},
		{"802.1ad", `"vlan":10,"vlanProto":"802.1ad"`, nil, config.Settings{Vlan: ptr(10), VlanProto: ptr(0x88a8)}, true},
		{"802.1AD any case", `"vlan":10,"vlanQoS":2,"vlanProto":"802.1AD"`, nil,
			config.Settings{Vlan: ptr(10), VlanQoS: ptr(2), VlanProto: ptr(0x88a8)}, true},

		{"mac from config", `"mac":"02:00:00:00:00:01"`, nil, config.Settings{MAC: mac("02:00:00:00:00:01")}, true},
		{"mac upper case and dashes", `"mac":"02-AB-CD-EF-00-01"`, nil, config.Settings{MAC: mac("02:ab:cd:ef:00:01")}, true},
		{"mac: CNI_ARGS over config", `"mac":"02:00:00:00:00:01"`, &config.Args{MAC: "02:00:00:00:00:02"},
			config.Settings{MAC: mac("02:00:00:00:00:02")}, true},
		{"mac: CNI_ARGS alone", "", &config.Args{MAC: "02:00:00:00:00:02"}, config.Settings{MAC: mac("02:00:00:00:00:02")}, true},
		{"mac: runtimeConfig over CNI_ARGS and config", `"mac":"02:00:00:00:00:01","runtimeConfig":{"mac":"02:00:00:00:00:03"}`,
			&config.Args{MAC: "02:00:00:00:00:02"}, config.Settings{MAC: mac("02:00:00:00:00:03")}, true},
		{"mac: runtimeConfig over CNI_ARGS", `"runtimeConfig":{"mac":"02:00:00:00:00:03"}`,
			&config.Args{MAC: "02:00:00:00:00:02"}, config.Settings{MAC: mac("02:00:00:00:00:03")}, true},
		{"mac: runtimeConfig over config", `"mac":"02:00:00:00:00:01","runtimeConfig":{"mac":"02:00:00:00:00:03"}`,
			nil, config.Settings{MAC: mac("02:00:00:00:00:03")}, true},
		{"mac: vendor unicast", `"mac":"3c:fd:fe:00:00:01"`, nil, config.Settings{MAC: mac("3c:fd:fe:00:00:01")}, true},

		{"spoofchk on", `"spoofchk":"on"`, nil, config.Settings{SpoofChk: ptr(true)}, true},
		{"spoofchk off", `"spoofchk":"off"`, nil, config.Settings{SpoofChk: ptr(false)}, true},
		{"trust on", `"trust":"on"`, nil, config.Settings{Trust: ptr(true)}, true},
		{"trust off", `"trust":"off"`, nil, config.Settings{Trust: ptr(false)}, true},

		{"link_state auto", `"link_state":"auto"`, nil, config.Settings{LinkState: ptr(attach.LinkStateAuto)}, true},
		{"link_state enable", `"link_state":"enable"`, nil, config.Settings{LinkState: ptr(attach.LinkStateEnable)}, true},
		{"link_state disable", `"link_state":"disable"`, nil, config.Settings{LinkState: ptr(attach.LinkStateDisable)}, true},

		{"rates zero", `"min_tx_rate":0,"max_tx_rate":0`, nil, config.Settings{MinTxRate: ptr(uint32(0)), MaxTxRate: ptr(uint32(0))}, true},
		{"min below max", `"min_tx_rate":100,"max_tx_rate":1000`, nil, config.Settings{MinTxRate: ptr(uint32(100)), MaxTxRate: ptr(uint32(1000))}, true},
		{"min equal max", `"min_tx_rate":500,"max_tx_rate":500`, nil, config.Settings{MinTxRate: ptr(uint32(500)), MaxTxRate: ptr(uint32(500))}, true},
		// max 0 is "no limit" to the kernel, so any min is below it.
		{"min with unlimited max", `"min_tx_rate":100,"max_tx_rate":0`, nil, config.Settings{MinTxRate: ptr(uint32(100)), MaxTxRate: ptr(uint32(0))}, true},
		{"min alone", `"min_tx_rate":100`, nil, config.Settings{MinTxRate: ptr(uint32(100))}, true},
		{"max alone", `"max_tx_rate":40000`, nil, config.Settings{MaxTxRate: ptr(uint32(40000))}, true},

		{"mtu 68", `"mtu":68`, nil, config.Settings{MTU: 68}, false},
		{"mtu 9000", `"mtu":9000`, nil, config.Settings{MTU: 9000}, false},
		{"mtu 65535", `"mtu":65535`, nil, config.Settings{MTU: 65535}, false},

		{"everything", `"deviceID":"0000:01:10.0","vlan":100,"vlanQoS":5,"vlanProto":"802.1ad","mac":"02:00:00:00:00:01",
			"spoofchk":"off","trust":"on","link_state":"disable","min_tx_rate":10,"max_tx_rate":20,"mtu":1400`, nil,
			config.Settings{DeviceID: "0000:01:10.0", MAC: mac("02:00:00:00:00:01"), Vlan: ptr(100), VlanQoS: ptr(5),
				VlanProto: ptr(0x88a8), SpoofChk: ptr(false), Trust: ptr(true), LinkState: ptr(attach.LinkStateDisable),
				MinTxRate: ptr(uint32(10)), MaxTxRate: ptr(uint32(20)), MTU: 1400}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse(conf(tc.extra))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			s, err := bound(t, c).Resolve(tc.args)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !reflect.DeepEqual(*s, tc.want) {
				got, _ := json.Marshal(s)
				want, _ := json.Marshal(tc.want)
				t.Errorf("settings\n got %s\nwant %s", got, want)
			}
			if s.PFSideRequested() != tc.pf {
				t.Errorf("PFSideRequested() = %v, want %v", s.PFSideRequested(), tc.pf)
			}
		})
	}
}

// Resolve must not hand out pointers into the NetConf that a later change
// to the config would alter, nor change the config itself.
func TestResolveLeavesConfigAlone(t *testing.T) {
	c, err := config.Parse(conf(`"vlan":10,"mac":"02:00:00:00:00:01"`))
	if err != nil {
		t.Fatal(err)
	}
	before := *c
	if _, err := bound(t, c).Resolve(&config.Args{MAC: "02:00:00:00:00:02"}); err != nil {
		t.Fatal(err)
	}
	if c.MAC != before.MAC || c.Vlan != before.Vlan || *c.Vlan != 10 || c.RuntimeConfig != before.RuntimeConfig {
		t.Errorf("Resolve changed the config: %+v", c)
	}
}

// ResolveMAC serves a record's config, which is never bound to the node:
// with a device-info file in runtimeConfig (which Resolve checks against
// the node) it still picks the winning MAC, or none.
func TestResolveMACUnbound(t *testing.T) {
	runtime := `"runtimeConfig":{"CNIDeviceInfoFile":"/var/run/k8s.cni.cncf.io/devinfo/cni/x.json"}`
	for _, tc := range []struct {
		name, extra, argMAC, want string
	}{
		{"none", runtime, "", ""},
		{"config", `"mac":"02:00:00:00:00:01",` + runtime, "", "02:00:00:00:00:01"},
		{"CNI_ARGS over config", `"mac":"02:00:00:00:00:01",` + runtime, "02:00:00:00:00:02", "02:00:00:00:00:02"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse(conf(tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			mac, err := c.ResolveMAC(&config.Args{MAC: tc.argMAC})
			if err != nil {
				t.Fatal(err)
			}
			if mac.String() != tc.want {
				t.Errorf("ResolveMAC = %q, want %q", mac, tc.want)
			}
		})
	}
}

func TestDevice(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		runtime, dev, pciBus string
		want                 string
	}{
		{"none", "", "", "", ""},
		{"pciBusID only", "", "", "0000:01:10.4", "0000:01:10.4"},
		{"deviceID only", "", "0000:01:10.2", "", "0000:01:10.2"},
		{"runtimeConfig only", "0000:01:10.0", "", "", "0000:01:10.0"},
		{"deviceID over pciBusID", "", "0000:01:10.2", "0000:01:10.4", "0000:01:10.2"},
		{"runtimeConfig over pciBusID", "0000:01:10.0", "", "0000:01:10.4", "0000:01:10.0"},
		{"runtimeConfig over deviceID", "0000:01:10.0", "0000:01:10.2", "", "0000:01:10.0"},
		{"runtimeConfig over both", "0000:01:10.0", "0000:01:10.2", "0000:01:10.4", "0000:01:10.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &config.NetConf{DeviceID: tc.dev, PCIBusID: tc.pciBus}
			c.RuntimeConfig.DeviceID = tc.runtime
			if got := c.Device(); got != tc.want {
				t.Errorf("Device() = %q, want %q", got, tc.want)
			}
			// Resolve uses the same choice.
			s, err := bound(t, c).Resolve(nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.DeviceID != tc.want {
				t.Errorf("Resolve DeviceID = %q, want %q", s.DeviceID, tc.want)
			}
		})
	}
	// Through JSON too: the runtime puts deviceID under runtimeConfig.
	c, err := config.Parse(conf(`"deviceID":"0000:01:10.2","runtimeConfig":{"deviceID":"0000:01:10.0"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Device(); got != "0000:01:10.0" {
		t.Errorf("Device() from JSON = %q", got)
	}
}

// bound binds c to the default node settings, as every command does before
// it resolves anything.
func bound(t *testing.T, c *config.NetConf) *config.NetConf {
	t.Helper()
	n, err := node.Parse(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.BindNode(n); err != nil {
		t.Fatal(err)
	}
	return c
}
