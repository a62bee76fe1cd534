package main

import (
	"bytes"
	"net"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

func TestPrintResultIsTheLibrarys(t *testing.T) {
	cidr := func(s string) net.IPNet {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return *n
	}
	table, scope := 100, 253
	full := &current.Result{
		CNIVersion: "1.1.0",
		Interfaces: []*current.Interface{
			{Name: "net1", Mac: "02:fa:00:00:00:01", Mtu: 1400, Sandbox: "/var/run/netns/p<&>1", PciID: "0000:01:10.0"},
			{Name: "vhu", SocketPath: "/var/lib/pods/u/net2.sock"},
		},
		IPs: []*current.IPConfig{
			{Interface: current.Int(0), Address: cidr("10.10.0.5/24"), Gateway: net.ParseIP("10.10.0.1")},
			{Address: cidr("fd00:77::10/64")},
		},
		Routes: []*types.Route{
			{Dst: cidr("10.200.0.0/16")},
			{Dst: cidr("0.0.0.0/0"), GW: net.ParseIP("10.10.0.254"), MTU: 1300, AdvMSS: 1260, Priority: 10, Table: &table, Scope: &scope},
			{Dst: cidr("fd00::/8"), Table: new(int), Scope: new(int)},
		},
		DNS: types.DNS{Nameservers: []string{"10.0.0.10"}, Domain: "svc.local", Search: []string{"a", "b"}, Options: []string{"ndots:5"}},
	}
	cases := map[string]*current.Result{
		"every member":           full,
		"interface only":         {CNIVersion: "1.1.0", Interfaces: []*current.Interface{{Name: "net1", PciID: "0000:01:10.0"}}},
		"empty":                  {},
		"dns with a domain only": {DNS: types.DNS{Domain: "x"}},
	}
	for name, res := range cases {
		for _, version := range []string{"1.1.0", "1.0.0", "0.4.0", "0.3.1"} {
			t.Run(name+"/"+version, func(t *testing.T) {
				var ours, lib bytes.Buffer
				if err := printResult(&ours, res, version); err != nil {
					t.Fatal(err)
				}
				r, err := res.GetAsVersion(version)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.PrintTo(&lib); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(ours.Bytes(), lib.Bytes()) {
					t.Errorf("printResult:\n%s\nthe library:\n%s", ours.Bytes(), lib.Bytes())
				}
			})
		}
	}
}
