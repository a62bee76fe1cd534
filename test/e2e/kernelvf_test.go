//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// vfConf is a conflist for VF i on VLAN vlan with its own MAC.
func vfConf(n *cnitest.Net, nc nic, i, vlan int, extra map[string]any) *libcni.NetworkConfigList {
	p := n.Plugin("10.10.0.0/24", map[string]any{
		"deviceID": nc.vfs[i], "vlan": vlan, "mac": fmt.Sprintf("02:fa:00:00:00:%02x", i+1),
		"spoofchk": "on", "trust": "off",
	})
	for k, v := range extra {
		p[k] = v
	}
	return n.List("1.1.0", p)
}

// Two pods on VLAN 100 reach each other through the NIC's switch; a pod on
// VLAN 200 in the same subnet reaches neither. DEL leaves the PF and every VF
// netdev exactly as `ip link show` showed them before.
func TestVLANIsolation(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	pods := []ns.NetNS{cnitest.Pod(t), cnitest.Pod(t), cnitest.Pod(t)}
	vlans := []int{100, 100, 200}
	var addrs []string
	var confs []*libcni.NetworkConfigList
	for i, p := range pods {
		l := vfConf(n, nc, i, vlans[i], map[string]any{"vlanQoS": 3, "mtu": 1400})
		res, err := n.Add(l, cnitest.RT(p, fmt.Sprintf("pod%d", i), "net1"))
		must(t, err)
		if res.Interfaces[0].PciID != nc.vfs[i] || res.Interfaces[0].Mac != fmt.Sprintf("02:fa:00:00:00:%02x", i+1) {
			t.Errorf("pod%d interface %+v", i, res.Interfaces[0])
		}
		addrs = append(addrs, res.IPs[0].Address.IP.String())
		confs = append(confs, l)
	}
	pf := ipLink(t, nc.pf)
	for i := range pods {
		want := fmt.Sprintf("vf %d     link/ether 02:fa:00:00:00:%02x brd ff:ff:ff:ff:ff:ff, vlan %d, qos 3, spoof checking on", i, i+1, vlans[i])
		if !strings.Contains(pf, want) {
			t.Errorf("PF does not show %q:\n%s", want, pf)
		}
	}
	must(t, ping(pods[0], addrs[1]))
	must(t, ping(pods[1], addrs[0]))
	if err := ping(pods[2], addrs[0]); err == nil {
		t.Errorf("pod on VLAN 200 reached %s on VLAN 100", addrs[0])
	}
	if err := ping(pods[2], addrs[1]); err == nil {
		t.Errorf("pod on VLAN 200 reached %s on VLAN 100", addrs[1])
	}
	for i, p := range pods {
		must(t, n.Del(confs[i], cnitest.RT(p, fmt.Sprintf("pod%d", i), "net1")))
	}
	nc.same(t, before, "after DEL")
	n.Released(t)
}

// CHECK passes on a fresh attachment and fails once the address is gone or a
// PF-side setting drifts.
func TestCheck(t *testing.T) {
	nc := findNIC(t)
	n := cnitest.NewNet(t, binDir)
	p := cnitest.Pod(t)
	l := vfConf(n, nc, 0, 100, nil)
	r := cnitest.RT(p, "pod0", "net1")
	res, err := n.Add(l, r)
	must(t, err)
	defer n.Del(l, r)
	must(t, n.Check(l, r))

	pfLink, err := netlink.LinkByName(nc.pf)
	must(t, err)
	must(t, netlink.LinkSetVfVlan(pfLink, 0, 300))
	if err := n.Check(l, r); err == nil || !strings.Contains(err.Error(), "vlan is 300, want 100") {
		t.Errorf("CHECK after the VLAN changed = %v", err)
	}
	must(t, netlink.LinkSetVfVlan(pfLink, 0, 100))
	must(t, n.Check(l, r))

	must(t, p.Do(func(ns.NetNS) error {
		link, err := netlink.LinkByName("net1")
		if err != nil {
			return err
		}
		return netlink.AddrDel(link, &netlink.Addr{IPNet: &res.IPs[0].Address})
	}))
	if err := n.Check(l, r); err == nil || !strings.Contains(err.Error(), res.IPs[0].Address.IP.String()) {
		t.Errorf("CHECK after the address was removed = %v", err)
	}
}

// DEL twice, and DEL after the pod's namespace is gone: the kernel hands the
// VF back to the host under its container name, and DEL restores it there.
func TestDelAfterNetnsGone(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	p := cnitest.Pod(t)
	l := vfConf(n, nc, 1, 100, map[string]any{"mtu": 1300})
	r := cnitest.RT(p, "pod1", "net1")
	_, err := n.Add(l, r)
	must(t, err)
	p.Close()
	// As a runtime does; the mount point stays behind as a plain file.
	must(t, unix.Unmount(p.Path(), unix.MNT_DETACH))
	must(t, n.Del(l, r))
	must(t, n.Del(l, r))
	nc.same(t, before, "after DEL")
	n.Released(t)
}

// The igb driver refuses link_state: ADD fails with code 102 naming it, and
// the VF ends exactly as it was found, the MAC and VLAN set before it too.
func TestUnsupportedLinkState(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	p := cnitest.Pod(t)
	_, err := n.Add(vfConf(n, nc, 2, 100, map[string]any{"link_state": "enable"}), cnitest.RT(p, "pod2", "net1"))
	if cnitest.Code(err) != 102 || !strings.Contains(err.Error(), "link_state enable") {
		t.Fatalf("ADD = %v (code %d), want code 102 naming link_state", err, cnitest.Code(err))
	}
	nc.same(t, before, "after the failed ADD")
	n.Released(t)
}

// All seven VFs go to seven pods at once, then come back at once.
func TestParallelSeven(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	pods := make([]ns.NetNS, len(nc.vfs))
	for i := range pods {
		pods[i] = cnitest.Pod(t)
	}
	run := func(op string, f func(i int) error) {
		var wg sync.WaitGroup
		errs := make([]error, len(pods))
		start := time.Now()
		for i := range pods {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = f(i) }()
		}
		wg.Wait()
		t.Logf("%s of %d pods in parallel: %s", op, len(pods), time.Since(start))
		for i, err := range errs {
			if err != nil {
				t.Errorf("%s pod%d: %v", op, i, err)
			}
		}
	}
	conf := func(i int) *libcni.NetworkConfigList { return vfConf(n, nc, i, 100+i, nil) }
	run("ADD", func(i int) error {
		_, err := n.Add(conf(i), cnitest.RT(pods[i], fmt.Sprintf("pod%d", i), "net1"))
		return err
	})
	if got := len(n.Leases()); got != len(pods) {
		t.Errorf("%d leases, want %d", got, len(pods))
	}
	run("DEL", func(i int) error { return n.Del(conf(i), cnitest.RT(pods[i], fmt.Sprintf("pod%d", i), "net1")) })
	nc.same(t, before, "after DEL")
	n.Released(t)
}

// With the state directory lost and the pod alive, DEL still brings the VF
// home (under a name made from its PCI address) and frees the lease.
func TestDelWithoutState(t *testing.T) {
	nc := findNIC(t)
	n := cnitest.NewNet(t, binDir)
	p := cnitest.Pod(t)
	l := vfConf(n, nc, 3, 100, nil)
	r := cnitest.RT(p, "pod3", "net1")
	_, err := n.Add(l, r)
	must(t, err)
	must(t, os.RemoveAll(n.StateDir))
	must(t, n.Del(l, r))
	name := "fp" + strings.NewReplacer(":", "", ".", "").Replace(nc.vfs[3])
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("VF not back on the host as %s: %v", name, err)
	}
	// Put the name back for the tests after this one.
	must(t, netlink.LinkSetName(link, nc.names[3]))
	// The original PF-side values died with the record: what the config set
	// goes back to neutral, so no dead pod's VLAN stays on the VF.
	if pf := ipLink(t, nc.pf); !strings.Contains(pf, "vf 3     link/ether 00:00:00:00:00:00 brd ff:ff:ff:ff:ff:ff, spoof checking on, link-state auto, trust off") {
		t.Errorf("VF 3 not reset to neutral:\n%s", pf)
	}
	n.Released(t)
}

// A kernel VF without a MAC, with the CNIDeviceInfoFile capability, as the
// cluster's NAD has it: ADD writes the device-info file naming the VF, DEL
// (twice) removes it and leaves the VF as found. Multus passes the file on
// DEL too; igbvf's DEL then reads the record's own config to learn whether a
// MAC was set (macRequested), which panicked on the file's path check.
func TestDeviceInfoWithoutMAC(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	p := cnitest.Pod(t)
	info := filepath.Join(n.Dir, "devinfo.json")
	l := n.List("1.1.0", n.Plugin("10.10.0.0/24", map[string]any{
		"deviceID": nc.vfs[2], "vlan": 100,
		"runtimeConfig": map[string]any{"CNIDeviceInfoFile": info},
	}))
	r := cnitest.RT(p, "pod2", "net1")
	_, err := n.Add(l, r)
	must(t, err)
	got, err := devinfo.Read(info)
	must(t, err)
	if got.Type != "pci" || got.PCI == nil || got.PCI.PCIAddress != nc.vfs[2] {
		t.Errorf("device info %+v, want type pci with pci-address %s", got, nc.vfs[2])
	}
	must(t, n.Del(l, r))
	must(t, n.Del(l, r))
	if _, err := os.Stat(info); !os.IsNotExist(err) {
		t.Errorf("device-info file after DEL: %v", err)
	}
	nc.same(t, before, "after DEL")
	n.Released(t)
}

// igb applies max_tx_rate (with the PF up) and refuses min_tx_rate: the first
// shows on the PF and goes on DEL, the second fails ADD with code 102 naming
// it and changes nothing. A max_tx_rate above the PF's link speed fails
// with code 7 before anything changes.
func TestRates(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	p := cnitest.Pod(t)
	l := vfConf(n, nc, 4, 100, map[string]any{"max_tx_rate": 100, "trust": "on"})
	r := cnitest.RT(p, "pod4", "net1")
	_, err := n.Add(l, r)
	must(t, err)
	if pf := ipLink(t, nc.pf); !strings.Contains(pf, "vf 4     link/ether 02:fa:00:00:00:05 brd ff:ff:ff:ff:ff:ff, vlan 100, tx rate 100 (Mbps), max_tx_rate 100Mbps, spoof checking on, link-state auto, trust on") {
		t.Errorf("PF does not show the rate and trust:\n%s", pf)
	}
	must(t, n.Check(l, r))
	must(t, n.Del(l, r))
	nc.same(t, before, "after DEL")
	_, err = n.Add(vfConf(n, nc, 4, 100, map[string]any{"min_tx_rate": 10}), r)
	if cnitest.Code(err) != 102 || !strings.Contains(err.Error(), "min_tx_rate 10 Mbps") {
		t.Fatalf("ADD with min_tx_rate = %v (code %d), want 102 naming min_tx_rate", err, cnitest.Code(err))
	}
	nc.same(t, before, "after the refused ADD")
	// Above the PF's link speed (1000 Mb/s): refused before anything changes.
	_, err = n.Add(vfConf(n, nc, 4, 100, map[string]any{"max_tx_rate": 1001}), r)
	if cnitest.Code(err) != 7 || !strings.Contains(err.Error(), `invalid max_tx_rate "1001": more than the link speed 1000 Mb/s of PF `+nc.pf) {
		t.Fatalf("ADD with max_tx_rate 1001 = %v (code %d), want 7 naming max_tx_rate and the speed", err, cnitest.Code(err))
	}
	nc.same(t, before, "after the refused ADD")
	if s := n.StateFiles(); len(s) != 0 {
		t.Errorf("state left: %v", s)
	}
}

// A VF whose recorded pod died without a DEL (its namespace gone) is
// reclaimed by the next ADD: the old lease is released, the new pod gets the
// VF, and its DEL leaves the NIC as it was before either.
func TestReclaimFromDeadPod(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	old, fresh := cnitest.Pod(t), cnitest.Pod(t)
	l := vfConf(n, nc, 5, 100, nil)
	_, err := n.Add(l, cnitest.RT(old, "old", "net1"))
	must(t, err)
	old.Close()
	must(t, unix.Unmount(old.Path(), unix.MNT_DETACH))
	res, err := n.Add(l, cnitest.RT(fresh, "fresh", "net1"))
	must(t, err)
	// The old pod's DEL, late, must not touch the VF its successor holds.
	must(t, n.Del(l, cnitest.RT(old, "old", "net1")))
	must(t, n.Check(l, cnitest.RT(fresh, "fresh", "net1")))
	if leases := n.Leases(); len(leases) != 1 || leases[0] != res.IPs[0].Address.IP.String() {
		t.Errorf("leases = %v, want only the new pod's %s", leases, res.IPs[0].Address.IP)
	}
	must(t, n.Del(l, cnitest.RT(fresh, "fresh", "net1")))
	nc.same(t, before, "after DEL")
	if s := n.StateFiles(); len(s) != 0 {
		t.Errorf("state left: %v", s)
	}
}

// A pod with `mac` and trust on, deleted, then a pod with another `mac` and
// trust off on the same VF: the second ADD must work (an admin MAC left
// pinned on the PF makes igb refuse the netdev's MAC change, "cannot assign
// requested address", as sriov-cni leaves it), its pod must reach a
// neighbour through the NIC, and DEL must leave the NIC as it was. Without
// `mtu`, so that nothing but the move out resets the VF.
func TestMACPodAfterTrustedMACPod(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	first := cnitest.Pod(t)
	l := vfConf(n, nc, 0, 100, map[string]any{"trust": "on"})
	r := cnitest.RT(first, "trusted", "net1")
	_, err := n.Add(l, r)
	must(t, err)
	must(t, n.Del(l, r))
	nc.same(t, before, "after the trusted pod's DEL")

	second, peer := cnitest.Pod(t), cnitest.Pod(t)
	l2 := vfConf(n, nc, 0, 100, map[string]any{"mac": "02:fa:00:00:01:01"})
	r2 := cnitest.RT(second, "untrusted", "net1")
	res, err := n.Add(l2, r2)
	if err != nil {
		t.Fatalf("ADD with mac and trust off after the trusted pod: %v", err)
	}
	if pf := ipLink(t, nc.pf); !strings.Contains(pf, "vf 0     link/ether 02:fa:00:00:01:01 brd ff:ff:ff:ff:ff:ff, vlan 100, spoof checking on, link-state auto, trust off") {
		t.Errorf("PF does not show VF 0 with the second pod's MAC, untrusted:\n%s", pf)
	}
	lp := vfConf(n, nc, 1, 100, nil)
	rp := cnitest.RT(peer, "peer", "net1")
	peerRes, err := n.Add(lp, rp)
	must(t, err)
	must(t, ping(second, peerRes.IPs[0].Address.IP.String()))
	must(t, ping(peer, res.IPs[0].Address.IP.String()))
	must(t, n.Del(lp, rp))
	must(t, n.Del(l2, r2))
	nc.same(t, before, "after DEL")
	n.Released(t)
}

// A VF whose PF holds an admin MAC, its own address (as sriov-cni's DEL
// leaves it, or a userspace VF's DEL that wrote back what it found): a pod
// with another `mac` and trust off still gets it, and DEL leaves the NIC as
// `ip link show` showed it, with the admin MAC gone: a second such pod works
// as the first did.
func TestMACPodOnPinnedVF(t *testing.T) {
	nc := findNIC(t)
	pfLink, err := netlink.LinkByName(nc.pf)
	must(t, err)
	vfLink, err := netlink.LinkByName(nc.names[2])
	must(t, err)
	must(t, netlink.LinkSetVfHardwareAddr(pfLink, 2, vfLink.Attrs().HardwareAddr))
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	for i := range 2 {
		p := cnitest.Pod(t)
		l := vfConf(n, nc, 2, 100, nil)
		r := cnitest.RT(p, fmt.Sprintf("pinned%d", i), "net1")
		if _, err := n.Add(l, r); err != nil {
			t.Fatalf("ADD %d with mac and trust off on a pinned VF: %v", i, err)
		}
		if pf := ipLink(t, nc.pf); !strings.Contains(pf, "vf 2     link/ether 02:fa:00:00:00:03 brd ff:ff:ff:ff:ff:ff, vlan 100") {
			t.Errorf("PF does not show VF 2 with the pod's MAC:\n%s", pf)
		}
		must(t, n.Del(l, r))
		nc.same(t, before, fmt.Sprintf("after DEL %d", i))
	}
	n.Released(t)
}
