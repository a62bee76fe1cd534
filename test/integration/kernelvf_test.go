package integration

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

// One pod's whole life: ADD moves and configures the VF, traffic flows,
// CHECK passes, DEL puts everything back, a second DEL is a no-op.
func TestAddCheckDel(t *testing.T) {
	nd := newNode(t, 1)
	before := hostLink(t, nd.vfs[0])
	pod := nd.pod()
	// No "mac": it is a PF-side setting too, which needs the real NIC (e2e).
	l := nd.conf("1.1.0", map[string]any{"mtu": 1400})
	r := rt(pod, "c1", "net1")

	res, err := nd.Add(l, r)
	must(t, err)
	if len(res.Interfaces) != 1 {
		t.Fatalf("interfaces = %v", res.Interfaces)
	}
	iface := res.Interfaces[0]
	if iface.Name != "net1" || iface.Mac != before.MAC || iface.Mtu != 1400 ||
		iface.Sandbox != pod.Path() || iface.PciID != vfPCI {
		t.Errorf("interface = %+v", iface)
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != "10.77.0.10/24" || *res.IPs[0].Interface != 0 {
		t.Fatalf("ips = %v", res.IPs)
	}
	if _, err := netlink.LinkByName(nd.vfs[0]); err == nil {
		t.Errorf("%s still on the host after ADD", nd.vfs[0])
	}
	must(t, pod.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName("net1")
		if err != nil {
			return err
		}
		routes, err := netlink.RouteList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		var found bool
		for _, rt := range routes {
			found = found || (rt.Dst != nil && rt.Dst.String() == "10.99.0.0/16" && rt.Gw.String() == "10.77.0.1")
		}
		if !found {
			t.Errorf("route 10.99.0.0/16 via 10.77.0.1 missing: %v", routes)
		}
		return nil
	}))
	must(t, nd.dial(pod))
	must(t, nd.CNI.CheckNetworkList(context.Background(), l, r))
	if got := nd.Leases(); len(got) != 1 || got[0] != "10.77.0.10" {
		t.Errorf("leases after ADD = %v", got)
	}

	must(t, nd.Del(l, r))
	nd.asFound(t, before, "after DEL")
	must(t, nd.Del(l, r))
}

// CHECK must fail when what ADD made has changed.
func TestCheckDetectsDrift(t *testing.T) {
	nd := newNode(t, 1)
	pod := nd.pod()
	l := nd.conf("1.1.0", map[string]any{"mtu": 1400})
	r := rt(pod, "c1", "net1")
	_, err := nd.Add(l, r)
	must(t, err)
	t.Cleanup(func() { nd.Del(l, r) })
	must(t, nd.CNI.CheckNetworkList(context.Background(), l, r))

	for _, tc := range []struct {
		name   string
		change func(netlink.Link) error
		undo   func(netlink.Link) error
		want   string
	}{
		{"address removed", func(l netlink.Link) error {
			a, _ := netlink.ParseAddr("10.77.0.10/24")
			return netlink.AddrDel(l, a)
		}, func(l netlink.Link) error {
			a, _ := netlink.ParseAddr("10.77.0.10/24")
			if err := netlink.AddrAdd(l, a); err != nil {
				return err
			}
			return addRoute(l)
		}, "10.77.0.10"},
		{"mtu changed", func(l netlink.Link) error { return netlink.LinkSetMTU(l, 1300) },
			func(l netlink.Link) error { return netlink.LinkSetMTU(l, 1400) }, "MTU 1300, want 1400"},
		{"link down", netlink.LinkSetDown, netlink.LinkSetUp, "down"},
	} {
		if tc.name == "link down" {
			tc.undo = func(l netlink.Link) error {
				if err := netlink.LinkSetUp(l); err != nil {
					return err
				}
				return addRoute(l) // a link going down drops its routes
			}
		}
		t.Run(tc.name, func(t *testing.T) {
			must(t, pod.Do(func(ns.NetNS) error {
				l, err := netlink.LinkByName("net1")
				if err != nil {
					return err
				}
				return tc.change(l)
			}))
			err := nd.CNI.CheckNetworkList(context.Background(), l, r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CHECK after %s = %v, want an error with %q", tc.name, err, tc.want)
			}
			must(t, pod.Do(func(ns.NetNS) error {
				l, err := netlink.LinkByName("net1")
				if err != nil {
					return err
				}
				return tc.undo(l)
			}))
			must(t, nd.CNI.CheckNetworkList(context.Background(), l, r))
		})
	}
}

func addRoute(l netlink.Link) error {
	_, dst, _ := net.ParseCIDR("10.99.0.0/16")
	return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Gw: net.ParseIP("10.77.0.1")})
}

// Every supported cniVersion gets a result of its own version; only 1.1.0
// carries pciID.
func TestVersions(t *testing.T) {
	for _, v := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			nd := newNode(t, 1)
			pod := nd.pod()
			l := nd.conf(v, nil)
			r := rt(pod, "c-"+v, "net1")
			res, err := nd.CNI.AddNetworkList(context.Background(), l, r)
			must(t, err)
			if res.Version() != v {
				t.Errorf("result version %s, want %s", res.Version(), v)
			}
			b, _ := json.Marshal(res)
			if strings.Contains(string(b), "pciID") != (v == "1.1.0") {
				t.Errorf("pciID presence wrong for %s: %s", v, b)
			}
			if !strings.Contains(string(b), "10.77.0.10") {
				t.Errorf("no address in %s", b)
			}
			if v != "0.3.1" {
				must(t, nd.CNI.CheckNetworkList(context.Background(), l, r))
			}
			must(t, nd.Del(l, r))
		})
	}
}

// As the first plugin of a chain, fastpath's result feeds the next plugin
// (tuning, which changes the interface it names); after another plugin, it
// keeps prevResult's interfaces and addresses and appends its own.
func TestChaining(t *testing.T) {
	t.Run("first", func(t *testing.T) {
		nd := newNode(t, 1)
		pod := nd.pod()
		fp := nd.conf("1.1.0", nil).Plugins[0]
		var plugin map[string]any
		must(t, json.Unmarshal(fp.Bytes, &plugin))
		l := nd.List("1.1.0", plugin, map[string]any{"type": "tuning", "mtu": 1280})
		r := rt(pod, "c1", "net1")
		_, err := nd.Add(l, r)
		must(t, err)
		must(t, pod.Do(func(ns.NetNS) error {
			l, err := netlink.LinkByName("net1")
			if err == nil && l.Attrs().MTU != 1280 {
				t.Errorf("tuning did not act on fastpath's interface: mtu %d", l.Attrs().MTU)
			}
			return err
		}))
		must(t, nd.Del(l, r))
	})
	t.Run("after", func(t *testing.T) {
		nd := newNode(t, 1)
		pod := nd.pod()
		prev := map[string]any{
			"cniVersion": "1.1.0",
			"interfaces": []map[string]any{{"name": "eth0", "sandbox": pod.Path()}},
			"ips":        []map[string]any{{"address": "192.0.2.5/24", "interface": 0}},
		}
		conf := nd.conf("1.1.0", map[string]any{"prevResult": prev}).Plugins[0]
		conf.Network.Name = "fpnet"
		res, err := nd.CNI.AddNetwork(context.Background(), withName(t, conf), rt(pod, "c1", "net1"))
		must(t, err)
		cur, err := current.NewResultFromResult(res)
		must(t, err)
		if len(cur.Interfaces) != 2 || cur.Interfaces[0].Name != "eth0" || cur.Interfaces[1].Name != "net1" {
			t.Fatalf("interfaces = %v", cur.Interfaces)
		}
		if len(cur.IPs) != 2 || *cur.IPs[0].Interface != 0 || *cur.IPs[1].Interface != 1 ||
			cur.IPs[1].Address.String() != "10.77.0.10/24" {
			t.Fatalf("ips = %v", cur.IPs)
		}
		must(t, nd.CNI.DelNetwork(context.Background(), withName(t, conf), rt(pod, "c1", "net1")))
	})
}

// withName gives a single plugin config the network name a conflist gives.
func withName(t *testing.T, pc *libcni.PluginConfig) *libcni.PluginConfig {
	var m map[string]any
	must(t, json.Unmarshal(pc.Bytes, &m))
	m["name"] = "fpnet"
	m["cniVersion"] = "1.1.0"
	b, _ := json.Marshal(m)
	out, err := libcni.NetworkPluginConfFromBytes(b)
	must(t, err)
	return out
}

// Bad config is refused with code 7, naming the field and value, before
// anything on the host changes.
func TestBadConfigChangesNothing(t *testing.T) {
	nd := newNode(t, 1)
	before := hostLink(t, nd.vfs[0])
	pod := nd.pod()
	for _, tc := range []struct {
		field string
		value any
		want  string
	}{
		{"vlan", 5000, `vlan "5000"`},
		{"vlanQoS", 9, `vlanQoS "9"`},
		{"vlanProto", "802.1x", `vlanProto "802.1x"`},
		{"mac", "zz:00", `mac "zz:00"`},
		{"spoofchk", "yes", `spoofchk "yes"`},
		{"trust", "1", `trust "1"`},
		{"link_state", "up", `link_state "up"`},
		{"min_tx_rate", -1, `min_tx_rate "-1"`},
		{"mtu", 10, `mtu "10"`},
		{"deviceID", "01:10.0", `deviceID "01:10.0"`},
		{"logLevel", "loud", `logLevel "loud"`},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, err := nd.Add(nd.conf("1.1.0", map[string]any{tc.field: tc.value}), rt(pod, "c1", "net1"))
			if cniCode(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ADD = %v (code %d), want code 7 naming %s", err, cniCode(err), tc.want)
			}
			nd.asFound(t, before, "after the refused ADD")
		})
	}
}

// Device errors are each their own clear error with code 100.
func TestDeviceErrors(t *testing.T) {
	nd := newNode(t, 1)
	pod := nd.pod()
	for _, tc := range []struct{ dev, want string }{
		{"0000:09:00.0", "no such PCI device"},
		{pfPCI, "is a PF"},
	} {
		_, err := nd.Add(nd.conf("1.1.0", map[string]any{"deviceID": tc.dev}), rt(pod, "c1", "net1"))
		if cniCode(err) != 100 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ADD on %s = %v, want code 100 with %q", tc.dev, err, tc.want)
		}
	}
	_, err := nd.Add(nd.conf("1.1.0", map[string]any{"deviceID": nil}), rt(pod, "c1", "net1"))
	if cniCode(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), "deviceID") {
		t.Errorf("ADD without deviceID = %v", err)
	}
}

// A failure late in ADD (here IPAM, whose range is exhausted) rolls back the
// move, the MAC and MTU, the record and the claim.
func TestRollbackOnIPAMFailure(t *testing.T) {
	nd := newNode(t, 2)
	before := hostLink(t, nd.vfs[1])
	pod1, pod2 := nd.pod(), nd.pod()
	one := map[string]any{
		"type": "host-local", "dataDir": nd.IPAMDir,
		"ranges": [][]map[string]any{{{"subnet": "10.77.0.0/24", "rangeStart": "10.77.0.10", "rangeEnd": "10.77.0.10"}}},
	}
	_, err := nd.Add(nd.conf("1.1.0", map[string]any{"ipam": one}), rt(pod1, "c1", "net1"))
	must(t, err)
	l2 := nd.conf("1.1.0", map[string]any{"ipam": one, "deviceID": vfPCIAddr(1), "mtu": 1300})
	_, err = nd.Add(l2, rt(pod2, "c2", "net1"))
	if err == nil || !strings.Contains(err.Error(), "IPAM") {
		t.Fatalf("ADD with exhausted range = %v, want an IPAM error", err)
	}
	if after := hostLink(t, nd.vfs[1]); after != before {
		t.Errorf("VF not restored: %+v, was %+v", after, before)
	}
	if got := nd.StateFiles(); len(got) != 2 { // the first pod's record and claim
		t.Errorf("state after rollback = %v", got)
	}
	if got := nd.Leases(); len(got) != 1 {
		t.Errorf("leases after rollback = %v", got)
	}
}

// A name clash in the pod fails the move into it; the VF comes back whole.
func TestRollbackOnNameClash(t *testing.T) {
	nd := newNode(t, 1)
	before := hostLink(t, nd.vfs[0])
	pod := nd.pod()
	must(t, pod.Do(func(ns.NetNS) error {
		return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "net1"}})
	}))
	_, err := nd.Add(nd.conf("1.1.0", map[string]any{"mtu": 1300}), rt(pod, "c1", "net1"))
	if err == nil {
		t.Fatal("ADD succeeded into a pod that has net1 already")
	}
	nd.asFound(t, before, "after the rollback")
}

// DEL works with the namespace already gone, with no CNI_NETNS, and with the
// state directory lost; each releases the lease.
func TestDelEdgeCases(t *testing.T) {
	t.Run("no netns given", func(t *testing.T) {
		nd := newNode(t, 1)
		pod := nd.pod()
		l := nd.conf("1.1.0", nil)
		_, err := nd.Add(l, rt(pod, "c1", "net1"))
		must(t, err)
		must(t, nd.Del(l, &libcni.RuntimeConf{ContainerID: "c1", IfName: "net1"}))
		if got := nd.Leases(); len(got) != 0 {
			t.Errorf("leases = %v", got)
		}
		// The record held the netns: the VF came back from the live pod.
		if _, err := netlink.LinkByName(nd.vfs[0]); err != nil {
			t.Errorf("VF not back: %v", err)
		}
	})
	t.Run("state lost", func(t *testing.T) {
		nd := newNode(t, 1)
		pod := nd.pod()
		l := nd.conf("1.1.0", nil)
		r := rt(pod, "c1", "net1")
		_, err := nd.Add(l, r)
		must(t, err)
		must(t, os.RemoveAll(nd.StateDir))
		must(t, nd.Del(l, r))
		if got := nd.Leases(); len(got) != 0 {
			t.Errorf("leases = %v", got)
		}
		must(t, nd.Del(l, r))
	})
	t.Run("netns gone", func(t *testing.T) {
		nd := newNode(t, 1)
		pod := nd.pod()
		l := nd.conf("1.1.0", nil)
		r := rt(pod, "c1", "net1")
		_, err := nd.Add(l, r)
		must(t, err)
		pod.Close()
		must(t, unmount(pod.Path()))
		must(t, nd.Del(l, r))
		if got := nd.Leases(); len(got) != 0 {
			t.Errorf("leases = %v", got)
		}
		if got := nd.StateFiles(); len(got) != 0 {
			t.Errorf("state = %v", got)
		}
	})
}

// A second pod cannot take a VF a live pod holds; once that pod's
// namespace is gone, ADD reclaims the VF.
func TestOwnership(t *testing.T) {
	nd := newNode(t, 1)
	pod1, pod2 := nd.pod(), nd.pod()
	l := nd.conf("1.1.0", nil)
	_, err := nd.Add(l, rt(pod1, "c1", "net1"))
	must(t, err)
	_, err = nd.Add(l, rt(pod2, "c2", "net1"))
	if cniCode(err) != 101 || !strings.Contains(err.Error(), "c1") {
		t.Fatalf("second ADD = %v, want code 101 naming c1", err)
	}
	// A late DEL for c2 must not touch c1's VF.
	must(t, nd.Del(l, rt(pod2, "c2", "net1")))
	must(t, pod1.Do(func(ns.NetNS) error { _, err := netlink.LinkByName("net1"); return err }))
	if got := nd.Leases(); len(got) != 1 {
		t.Errorf("leases = %v", got)
	}
}

// GC releases every attachment not listed as valid; STATUS reports SR-IOV.
func TestGCAndStatus(t *testing.T) {
	nd := newNode(t, 2)
	pods := []ns.NetNS{nd.pod(), nd.pod()}
	for i, p := range pods {
		_, err := nd.Add(nd.conf("1.1.0", map[string]any{"deviceID": vfPCIAddr(i)}), rt(p, "c"+string(rune('1'+i)), "net1"))
		must(t, err)
	}
	l := nd.conf("1.1.0", map[string]any{"deviceID": nil})
	must(t, nd.CNI.GCNetworkList(context.Background(), l, &libcni.GCArgs{
		ValidAttachments: []types.GCAttachment{{ContainerID: "c1", IfName: "net1"}},
	}))
	if _, err := netlink.LinkByName(nd.vfs[1]); err != nil {
		t.Errorf("GC did not bring back c2's VF: %v", err)
	}
	if _, err := netlink.LinkByName(nd.vfs[0]); err == nil {
		t.Errorf("GC took c1's VF, which is valid")
	}
	if got := nd.Leases(); len(got) != 1 || got[0] != "10.77.0.10" {
		t.Errorf("leases after GC = %v", got)
	}
	must(t, nd.CNI.GetStatusNetworkList(context.Background(), l))
	must(t, os.WriteFile(filepath.Join(nd.sysfs, "bus/pci/devices", pfPCI, "sriov_numvfs"), []byte("0\n"), 0o644))
	err := nd.CNI.GetStatusNetworkList(context.Background(), l)
	if cniCode(err) != types.ErrPluginNotAvailable {
		t.Errorf("STATUS with SR-IOV off = %v, want code 50", err)
	}
}

// What the PF's port says refuses a config before anything changes: a
// max_tx_rate above its link speed, and any PF-side setting while its
// eswitch is in switchdev mode (the fake tree's phys_switch_id).
func TestPFPortRefusals(t *testing.T) {
	nd := newNode(t, 1)
	before := hostLink(t, nd.vfs[0])
	pod := nd.pod()
	pf := fakePF(1, "")
	for _, tc := range []struct {
		name  string
		port  fakesysfs.PF
		extra map[string]any
		want  []string
	}{
		{"rate above speed", fakesysfs.PF{Speed: 1000}, map[string]any{"max_tx_rate": 2000},
			[]string{`invalid max_tx_rate "2000"`, "link speed 1000 Mb/s of PF fppf (" + pfPCI + ")"}},
		{"switchdev", fakesysfs.PF{SwitchID: "00aabbccddeeff00", PortName: "p0"}, map[string]any{"vlan": 100, "spoofchk": "on"},
			[]string{`invalid vlan "100"`, "PF fppf (" + pfPCI + ", uplink port p0) is in switchdev mode", "leave out vlan, spoofchk"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.port.PCI, tc.port.Netdev = pf.PCI, pf.Netdev
			must(t, fakesysfs.SetPort(nd.sysfs, tc.port))
			_, err := nd.Add(nd.conf("1.1.0", tc.extra), rt(pod, "c1", "net1"))
			if cniCode(err) != types.ErrInvalidNetworkConfig {
				t.Fatalf("ADD = %v (code %d), want code 7", err, cniCode(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ADD error %q lacks %q", err, w)
				}
			}
			// STATUS, with the same deviceID, says what ADD would refuse.
			err = nd.CNI.GetStatusNetworkList(context.Background(), nd.conf("1.1.0", tc.extra))
			if cniCode(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), tc.want[1]) {
				t.Errorf("STATUS = %v (code %d), want code 7 naming %q", err, cniCode(err), tc.want[1])
			}
			nd.asFound(t, before, "after the refused ADD")
		})
	}
	// Without PF-side settings the switchdev PF's VF attaches.
	conf := nd.conf("1.1.0", nil)
	if _, err := nd.Add(conf, rt(pod, "c2", "net1")); err != nil {
		t.Fatalf("ADD without PF-side settings on a switchdev PF: %v", err)
	}
	must(t, nd.Del(conf, rt(pod, "c2", "net1")))
}
