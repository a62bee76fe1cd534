package ipam

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/fastpath-cni/fastpath/test/needs"
)

// pod is a network namespace with the stand-in of a VF: net1, one end of
// a veth whose peer is up in a namespace of its own.
type pod struct {
	ns   ns.NetNS
	h    *netlink.Handle
	nsh  netns.NsHandle
	link netlink.Link
}

func newPod(t *testing.T) *pod {
	t.Helper()
	needs.Root(t)
	p := &pod{ns: newNS(t)}
	peer := newNS(t)
	var err error
	if p.nsh, err = netns.GetFromPath(p.ns.Path()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.nsh.Close() })
	if p.h, err = netlink.NewHandleAt(p.nsh); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.h.Close)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "net1", Namespace: netlink.NsFd(p.nsh)},
		PeerName: "wire", PeerNamespace: netlink.NsFd(peer.Fd())}
	if err := p.h.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	if err := peer.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName("wire")
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	p.link = p.lookup(t, "net1")
	if err := p.h.LinkSetUp(p.link); err != nil {
		t.Fatal(err)
	}
	return p
}

func newNS(t *testing.T) ns.NetNS {
	t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); testutils.UnmountNS(n) })
	return n
}

func (p *pod) lookup(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := p.h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (p *pod) configure(t *testing.T, res *current.Result) {
	t.Helper()
	if _, err := Configure(p.h, p.nsh, p.ns.Path(), "net1", res); err != nil {
		t.Fatal(err)
	}
}

// sysctl reads a setting of the pod's namespace.
func (p *pod) sysctl(t *testing.T, key string) string {
	t.Helper()
	var v []byte
	if err := p.ns.Do(func(ns.NetNS) (err error) {
		v, err = os.ReadFile("/proc/sys/" + key)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

func cidr(t *testing.T, s string) net.IPNet {
	t.Helper()
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	n.IP = ip
	return *n
}

func ipc(t *testing.T, addr, gw string) *current.IPConfig {
	return &current.IPConfig{Interface: current.Int(0), Address: cidr(t, addr), Gateway: net.ParseIP(gw)}
}

func route(t *testing.T, dst, gw string) *types.Route {
	d := cidr(t, dst)
	d.IP = d.IP.Mask(d.Mask)
	return &types.Route{Dst: d, GW: net.ParseIP(gw)}
}

// A link that goes down and up again keeps its IPv6 addresses, as it keeps
// its IPv4 ones: without keep_addr_on_down the kernel drops them and nothing
// puts them back. The setting dies with the namespace's view of the link,
// so a VF handed back to the host needs no undo.
func TestConfigureIPv6SurvivesLinkFlap(t *testing.T) {
	p := newPod(t)
	res := &current.Result{IPs: []*current.IPConfig{ipc(t, "10.9.0.5/24", ""), ipc(t, "2001:db8::5/64", "")}}
	p.configure(t, res)
	if got := p.sysctl(t, "net/ipv6/conf/net1/keep_addr_on_down"); got != "1" {
		t.Errorf("keep_addr_on_down on net1 = %q, want 1", got)
	}
	if err := p.h.LinkSetDown(p.link); err != nil {
		t.Fatal(err)
	}
	if err := p.h.LinkSetUp(p.link); err != nil {
		t.Fatal(err)
	}
	addrs, err := p.h.AddrList(p.link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range res.IPs {
		if !slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IPNet.String() == want.Address.String() }) {
			t.Errorf("after link down and up, net1 lacks %s (has %v)", want.Address.String(), addrs)
		}
	}

	other := newNS(t)
	if err := p.h.LinkSetNsFd(p.link, int(other.Fd())); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := other.Do(func(ns.NetNS) (err error) {
		got, err = os.ReadFile("/proc/sys/net/ipv6/conf/net1/keep_addr_on_down")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != "0" {
		t.Errorf("keep_addr_on_down of net1 moved to a fresh namespace = %q, want its default 0", got)
	}
}

// ecmpResult has, per family, two routes to one destination through two
// gateways, a route through the family's gateway, and one in a table of its
// own.
func ecmpResult(t *testing.T) *current.Result {
	table := 100
	inTable := route(t, "10.210.0.0/16", "10.9.0.1")
	inTable.Table = &table
	return &current.Result{
		IPs: []*current.IPConfig{ipc(t, "10.9.0.5/24", "10.9.0.1"), ipc(t, "2001:db8::5/64", "2001:db8::1")},
		Routes: []*types.Route{
			route(t, "10.200.0.0/16", "10.9.0.1"), route(t, "10.200.0.0/16", "10.9.0.2"),
			route(t, "2001:db8:100::/48", "2001:db8::1"), route(t, "2001:db8:100::/48", "2001:db8::2"),
			route(t, "10.201.0.0/16", ""), route(t, "2001:db8:101::/48", ""),
			// The same route twice is one next hop, not an error.
			route(t, "10.202.0.0/16", "10.9.0.1"), route(t, "10.202.0.0/16", "10.9.0.1"),
			inTable,
		},
	}
}

// Routes to one destination through several gateways are one multipath
// route through the pod's interface, in each family.
func TestConfigureECMP(t *testing.T) {
	p := newPod(t)
	p.configure(t, ecmpResult(t))
	idx := p.link.Attrs().Index
	for _, tc := range []struct {
		dst   string
		table int
		gws   []string
	}{
		{"10.200.0.0/16", 0, []string{"10.9.0.1", "10.9.0.2"}},
		{"2001:db8:100::/48", 0, []string{"2001:db8::1", "2001:db8::2"}},
		{"10.201.0.0/16", 0, []string{"10.9.0.1"}},
		{"2001:db8:101::/48", 0, []string{"2001:db8::1"}},
		{"10.202.0.0/16", 0, []string{"10.9.0.1"}},
		{"10.210.0.0/16", 100, []string{"10.9.0.1"}},
	} {
		d := cidr(t, tc.dst)
		routes, err := p.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Dst: &d, Table: tc.table}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		if len(routes) != 1 {
			t.Errorf("%s: %d routes, want 1: %v", tc.dst, len(routes), routes)
			continue
		}
		r := routes[0]
		hops := r.MultiPath
		if hops == nil {
			hops = []*netlink.NexthopInfo{{LinkIndex: r.LinkIndex, Gw: r.Gw}}
		}
		var gws []string
		for _, h := range hops {
			if h.LinkIndex != idx {
				t.Errorf("%s: next hop %v not through net1 (%d)", tc.dst, h, idx)
			}
			gws = append(gws, h.Gw.String())
		}
		slices.Sort(gws)
		if !slices.Equal(gws, tc.gws) {
			t.Errorf("%s: gateways %v, want %v", tc.dst, gws, tc.gws)
		}
	}
}

// CHECK passes on what ADD made, ECMP and other tables included, and fails,
// naming what is wrong, when an address or a route is gone from the pod's
// interface, even where another interface has one like it.
func TestVerify(t *testing.T) {
	needs.Root(t)
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, p *pod)
		want   string
	}{
		{"as configured", func(*testing.T, *pod) {}, ""},
		{"address moved to another interface", func(t *testing.T, p *pod) {
			a := netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("2001:db8::5"), Mask: net.CIDRMask(64, 128)}}
			must(t, p.h.AddrDel(p.link, &a))
			must(t, p.h.AddrAdd(p.lookup(t, "other"), &a))
		}, "address 2001:db8::5/64 is missing on net1"},
		{"subnet route gone", func(t *testing.T, p *pod) {
			d := cidr(t, "10.9.0.0/24")
			must(t, p.h.RouteDel(&netlink.Route{LinkIndex: p.link.Attrs().Index, Dst: &d, Scope: netlink.SCOPE_LINK}))
		}, "route to 10.9.0.0/24, the subnet of 10.9.0.5, is missing on net1"},
		{"route through the family's gateway now through another interface", func(t *testing.T, p *pod) {
			d := cidr(t, "10.201.0.0/16")
			must(t, p.h.RouteDel(&netlink.Route{Dst: &d}))
			must(t, p.h.RouteAdd(&netlink.Route{LinkIndex: p.lookup(t, "other").Attrs().Index, Dst: &d, Gw: net.ParseIP("10.8.0.1")}))
		}, "route 10.201.0.0/16 via 10.9.0.1 is missing on net1"},
		{"one next hop of a multipath route gone", func(t *testing.T, p *pod) {
			d := cidr(t, "2001:db8:100::/48")
			must(t, p.h.RouteDel(&netlink.Route{LinkIndex: p.link.Attrs().Index, Dst: &d, Gw: net.ParseIP("2001:db8::2")}))
		}, "route 2001:db8:100::/48 via 2001:db8::1, 2001:db8::2 is missing on net1"},
		{"route of another table gone", func(t *testing.T, p *pod) {
			d := cidr(t, "10.210.0.0/16")
			must(t, p.h.RouteDel(&netlink.Route{Dst: &d, Table: 100}))
		}, "route 10.210.0.0/16 via 10.9.0.1 in table 100 is missing on net1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPod(t)
			res := ecmpResult(t)
			p.configure(t, res)
			// A second interface in the pod, on a subnet of its own.
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "other"}, PeerName: "otherpeer"}
			must(t, p.h.LinkAdd(veth))
			o := p.lookup(t, "other")
			must(t, p.h.LinkSetUp(o))
			must(t, p.h.LinkSetUp(p.lookup(t, "otherpeer")))
			must(t, p.h.AddrAdd(o, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("10.8.0.5"), Mask: net.CIDRMask(24, 32)}}))
			tc.mutate(t, p)
			err := Verify(p.ns.Path(), "net1", res.IPs, res.Routes)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Verify = %v, want %q", err, tc.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
