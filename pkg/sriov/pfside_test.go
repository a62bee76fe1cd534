package sriov

import (
	"net"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
)

func ptr[T any](v T) *T { return &v }

// cur is a VF whose every field differs from the zero value and from what
// the cases below ask for.
var cur = PFSettings{
	MAC: "02:00:00:00:00:01", Vlan: 100, QoS: 3, VlanProto: 0x88a8,
	SpoofChk: true, Trust: false, LinkState: attach.LinkStateAuto, MinTxRate: 10, MaxTxRate: 100,
}

func TestDesired(t *testing.T) {
	with := func(f func(*PFSettings)) PFSettings {
		d := cur
		f(&d)
		return d
	}
	for _, tc := range []struct {
		name string
		s    config.Settings
		want PFSettings
	}{
		{"nothing asked", config.Settings{}, cur},
		{"device and MTU are not PF-side", config.Settings{DeviceID: "0000:01:10.0", MTU: 9000}, cur},
		{"mac", config.Settings{MAC: net.HardwareAddr{0x02, 0xAB, 0, 0, 0, 0x0f}},
			with(func(d *PFSettings) { d.MAC = "02:ab:00:00:00:0f" })},
		{"vlan resets qos and proto", config.Settings{Vlan: ptr(200)},
			with(func(d *PFSettings) { d.Vlan, d.QoS, d.VlanProto = 200, 0, 0x8100 })},
		{"vlan 0 clears all three", config.Settings{Vlan: ptr(0)},
			with(func(d *PFSettings) { d.Vlan, d.QoS, d.VlanProto = 0, 0, 0x8100 })},
		{"same vlan still resets qos and proto", config.Settings{Vlan: ptr(100)},
			with(func(d *PFSettings) { d.QoS, d.VlanProto = 0, 0x8100 })},
		{"vlan with qos", config.Settings{Vlan: ptr(200), VlanQoS: ptr(5)},
			with(func(d *PFSettings) { d.Vlan, d.QoS, d.VlanProto = 200, 5, 0x8100 })},
		{"vlan with 802.1ad", config.Settings{Vlan: ptr(200), VlanProto: ptr(0x88a8)},
			with(func(d *PFSettings) { d.Vlan, d.QoS, d.VlanProto = 200, 0, 0x88a8 })},
		{"vlan with qos and proto", config.Settings{Vlan: ptr(7), VlanQoS: ptr(7), VlanProto: ptr(0x8100)},
			with(func(d *PFSettings) { d.Vlan, d.QoS, d.VlanProto = 7, 7, 0x8100 })},
		{"qos alone", config.Settings{VlanQoS: ptr(0)},
			with(func(d *PFSettings) { d.QoS = 0 })},
		{"proto alone", config.Settings{VlanProto: ptr(0x8100)},
			with(func(d *PFSettings) { d.VlanProto = 0x8100 })},
		{"spoofchk off", config.Settings{SpoofChk: ptr(false)},
			with(func(d *PFSettings) { d.SpoofChk = false })},
		{"spoofchk on (unchanged)", config.Settings{SpoofChk: ptr(true)}, cur},
		{"trust on", config.Settings{Trust: ptr(true)},
			with(func(d *PFSettings) { d.Trust = true })},
		{"link_state disable", config.Settings{LinkState: ptr(attach.LinkStateDisable)},
			with(func(d *PFSettings) { d.LinkState = attach.LinkStateDisable })},
		{"link_state enable", config.Settings{LinkState: ptr(attach.LinkStateEnable)},
			with(func(d *PFSettings) { d.LinkState = attach.LinkStateEnable })},
		{"min rate", config.Settings{MinTxRate: ptr(uint32(0))},
			with(func(d *PFSettings) { d.MinTxRate = 0 })},
		{"max rate", config.Settings{MaxTxRate: ptr(uint32(5000))},
			with(func(d *PFSettings) { d.MaxTxRate = 5000 })},
		{"everything", config.Settings{
			MAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, Vlan: ptr(4094), VlanQoS: ptr(1), VlanProto: ptr(0x8100),
			SpoofChk: ptr(false), Trust: ptr(true), LinkState: ptr(attach.LinkStateEnable),
			MinTxRate: ptr(uint32(1)), MaxTxRate: ptr(uint32(2)),
		}, PFSettings{
			MAC: "02:00:00:00:00:02", Vlan: 4094, QoS: 1, VlanProto: 0x8100,
			SpoofChk: false, Trust: true, LinkState: attach.LinkStateEnable, MinTxRate: 1, MaxTxRate: 2,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := cur
			got := Desired(&before, &tc.s)
			if *got != tc.want {
				t.Errorf("Desired\n got %+v\nwant %+v", *got, tc.want)
			}
			if before != cur {
				t.Errorf("Desired changed its input to %+v", before)
			}
			if got == &before {
				t.Error("Desired returned its input")
			}
		})
	}
}

// Desired from settings that went through config.Resolve, as ADD does it.
func TestDesiredFromConfig(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		want        PFSettings
	}{
		{"vlan only", `"vlan":42`, PFSettings{MAC: cur.MAC, Vlan: 42, QoS: 0, VlanProto: 0x8100, SpoofChk: true,
			LinkState: attach.LinkStateAuto, MinTxRate: 10, MaxTxRate: 100}},
		{"QinQ", `"vlan":42,"vlanQoS":4,"vlanProto":"802.1ad"`, PFSettings{MAC: cur.MAC, Vlan: 42, QoS: 4, VlanProto: 0x88a8,
			SpoofChk: true, LinkState: attach.LinkStateAuto, MinTxRate: 10, MaxTxRate: 100}},
		{"switches", `"spoofchk":"off","trust":"on","link_state":"disable"`, PFSettings{MAC: cur.MAC, Vlan: 100, QoS: 3,
			VlanProto: 0x88a8, SpoofChk: false, Trust: true, LinkState: attach.LinkStateDisable, MinTxRate: 10, MaxTxRate: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(`{"cniVersion":"1.0.0","name":"n","type":"fastpath",` + tc.extra + `}`))
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Resolve(nil)
			if err != nil {
				t.Fatal(err)
			}
			c0 := cur
			if got := Desired(&c0, s); *got != tc.want {
				t.Errorf("Desired\n got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestMismatches(t *testing.T) {
	with := func(f func(*PFSettings)) PFSettings {
		d := cur
		f(&d)
		return d
	}
	for _, tc := range []struct {
		name string
		got  PFSettings
		want []string
	}{
		{"equal", cur, nil},
		{"mac", with(func(d *PFSettings) { d.MAC = "02:00:00:00:00:09" }),
			[]string{"mac is 02:00:00:00:00:09, want 02:00:00:00:00:01"}},
		{"vlan", with(func(d *PFSettings) { d.Vlan = 0 }), []string{"vlan is 0, want 100"}},
		{"qos", with(func(d *PFSettings) { d.QoS = 7 }), []string{"vlanQoS is 7, want 3"}},
		{"proto", with(func(d *PFSettings) { d.VlanProto = 0x8100 }), []string{"vlanProto is 33024, want 34984"}},
		{"spoofchk", with(func(d *PFSettings) { d.SpoofChk = false }), []string{"spoofchk is false, want true"}},
		{"trust", with(func(d *PFSettings) { d.Trust = true }), []string{"trust is true, want false"}},
		{"link_state by name", with(func(d *PFSettings) { d.LinkState = attach.LinkStateDisable }),
			[]string{"link_state is disable, want auto"}},
		{"link_state unknown number", with(func(d *PFSettings) { d.LinkState = 9 }), []string{"link_state is 9, want auto"}},
		{"min rate", with(func(d *PFSettings) { d.MinTxRate = 0 }), []string{"min_tx_rate is 0, want 10"}},
		{"max rate", with(func(d *PFSettings) { d.MaxTxRate = 0 }), []string{"max_tx_rate is 0, want 100"}},
		{"several, in field order", with(func(d *PFSettings) {
			d.MaxTxRate, d.MAC, d.Trust, d.Vlan = 1, "02:00:00:00:00:02", true, 5
		}), []string{
			"mac is 02:00:00:00:00:02, want 02:00:00:00:00:01", "vlan is 5, want 100",
			"trust is true, want false", "max_tx_rate is 1, want 100",
		}},
		{"all", PFSettings{MAC: "02:00:00:00:00:02", Vlan: 1, QoS: 1, VlanProto: 0x8100, SpoofChk: false, Trust: true,
			LinkState: attach.LinkStateEnable, MinTxRate: 1, MaxTxRate: 1}, []string{
			"mac is 02:00:00:00:00:02, want 02:00:00:00:00:01", "vlan is 1, want 100", "vlanQoS is 1, want 3",
			"vlanProto is 33024, want 34984", "spoofchk is false, want true", "trust is true, want false",
			"link_state is enable, want auto", "min_tx_rate is 1, want 10", "max_tx_rate is 1, want 100",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := cur
			got := Mismatches(&tc.got, &w)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Mismatches\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// What Desired computes, Mismatches finds equal; what it changed, Mismatches
// reports against the old state.
func TestDesiredMismatchesAgree(t *testing.T) {
	c := cur
	want := Desired(&c, &config.Settings{Vlan: ptr(5), Trust: ptr(true)})
	if m := Mismatches(want, want); len(m) != 0 {
		t.Errorf("Mismatches(x, x) = %q", m)
	}
	got := Mismatches(&c, want)
	exp := []string{"vlan is 100, want 5", "vlanQoS is 3, want 0", "vlanProto is 34984, want 33024", "trust is false, want true"}
	if !slices.Equal(got, exp) {
		t.Errorf("Mismatches(cur, desired) = %q, want %q", got, exp)
	}
}

func TestFromVfInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   netlink.VfInfo
		want PFSettings
	}{
		{"driver without proto means 802.1Q", netlink.VfInfo{ID: 1, Mac: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Vlan: 10, Qos: 2},
			PFSettings{MAC: "02:00:00:00:00:01", Vlan: 10, QoS: 2, VlanProto: 0x8100}},
		{"802.1ad kept", netlink.VfInfo{Mac: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Vlan: 10, VlanProto: 0x88a8},
			PFSettings{MAC: "02:00:00:00:00:01", Vlan: 10, VlanProto: 0x88a8}},
		{"flags and rates", netlink.VfInfo{Mac: net.HardwareAddr{0, 0, 0, 0, 0, 0}, Spoofchk: true, Trust: 1,
			LinkState: attach.LinkStateDisable, MinTxRate: 5, MaxTxRate: 50, VlanProto: 0x8100},
			PFSettings{MAC: "00:00:00:00:00:00", VlanProto: 0x8100, SpoofChk: true, Trust: true,
				LinkState: attach.LinkStateDisable, MinTxRate: 5, MaxTxRate: 50}},
		{"no MAC", netlink.VfInfo{}, PFSettings{VlanProto: 0x8100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromVfInfo(tc.in); *got != tc.want {
				t.Errorf("fromVfInfo\n got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}
