package sriov_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

func TestReadPort(t *testing.T) {
	up, noCarrier, switchdev := igbPF, x710PF0, widePF
	up.Speed, noCarrier.Speed = 1000, -1
	switchdev.Speed, switchdev.SwitchID, switchdev.PortName = 100000, "e8b0f10300534e2c", "p0"
	s := build(t, up, noCarrier, switchdev, x710PF1)
	for _, c := range []struct {
		pf   fakesysfs.PF
		want sriov.Port
	}{
		{up, sriov.Port{SpeedMbps: 1000, Mode: sriov.EswitchLegacy}},
		{noCarrier, sriov.Port{Mode: sriov.EswitchLegacy}},
		{x710PF1, sriov.Port{Mode: sriov.EswitchLegacy}}, // no speed file at all
		// devlink knows no such device here: phys_switch_id decides.
		{switchdev, sriov.Port{SpeedMbps: 100000, SwitchID: "e8b0f10300534e2c", PortName: "p0", Mode: sriov.EswitchSwitchdev}},
	} {
		if got := s.ReadPort(c.pf.PCI, c.pf.Netdev); got != c.want {
			t.Errorf("ReadPort(%s) = %+v, want %+v", c.pf.PCI, got, c.want)
		}
	}
}

func TestFitPort(t *testing.T) {
	up, switchdev := igbPF, widePF
	up.Speed = 1000
	switchdev.SwitchID, switchdev.PortName = "e8b0f10300534e2c", "p0"
	s := build(t, up, switchdev, x710PF0)
	n := func(v uint32) *uint32 { return &v }
	vlan := 100
	for _, c := range []struct {
		name string
		vf   string
		set  config.Settings
		want []string // parts of the code-7 message; nil: no error
	}{
		{"rate at the speed", up.VF(0), config.Settings{MaxTxRate: n(1000)}, nil},
		{"rate above the speed", up.VF(1), config.Settings{MaxTxRate: n(1001)},
			[]string{`invalid max_tx_rate "1001"`, "link speed 1000 Mb/s of PF ens1f0 (0000:01:00.0)"}},
		{"no limit", up.VF(1), config.Settings{MaxTxRate: n(0)}, nil},
		{"speed unknown", x710PF0.VF(3), config.Settings{MaxTxRate: n(400000)}, nil},
		{"switchdev, nothing through the PF", switchdev.VF(2), config.Settings{MTU: 9000}, nil},
		{"switchdev, vlan and rate", switchdev.VF(2), config.Settings{Vlan: &vlan, MaxTxRate: n(10)},
			[]string{`invalid vlan "100"`, "PF ens3 (0000:81:00.0, uplink port p0) is in switchdev mode",
				"leave out vlan, max_tx_rate", "devlink dev eswitch set pci/0000:81:00.0 mode legacy"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			vf, err := s.LookupVF(c.vf)
			if err != nil {
				t.Fatal(err)
			}
			err = s.FitPort(vf, &c.set)
			if c.want == nil {
				if err != nil {
					t.Fatalf("FitPort: %v", err)
				}
				return
			}
			var te *types.Error
			if !errors.As(err, &te) || te.Code != types.ErrInvalidNetworkConfig {
				t.Fatalf("FitPort = %v, want CNI error 7", err)
			}
			for _, w := range c.want {
				if !strings.Contains(te.Msg, w) {
					t.Errorf("message %q lacks %q", te.Msg, w)
				}
			}
		})
	}
}

// What the port check adds to an ADD that asks for a max_tx_rate: a read of
// the PF's speed, phys_switch_id and phys_port_name.
func BenchmarkFitPort(b *testing.B) {
	pf := igbPF
	pf.Speed = 1000
	s := build(b, pf)
	vf, err := s.LookupVF(pf.VF(3))
	if err != nil {
		b.Fatal(err)
	}
	rate := uint32(100)
	set := &config.Settings{MaxTxRate: &rate}
	for b.Loop() {
		if err := s.FitPort(vf, set); err != nil {
			b.Fatal(err)
		}
	}
}
