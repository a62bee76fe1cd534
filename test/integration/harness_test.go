// Package integration runs the fastpath binary through libcni on this
// machine, in real network namespaces, with real host-local IPAM. The kernel
// here has no SR-IOV NIC, so a veth end stands in for the VF netdev and a
// fake sysfs tree maps the VF's PCI address to it; the PF-side settings are
// tested on the emulated NIC (test/e2e).
package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/test/cnitest"
	"github.com/fastpath-cni/fastpath/test/fakesysfs"
	"github.com/fastpath-cni/fastpath/test/needs"
)

// binDir holds the plugins built once for the whole run.
var binDir string

// Without root every test skips (newNet says why); the binaries are built
// all the same, so that a build error shows.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fastpath-bin-")
	if err == nil {
		err = cnitest.Build(dir, cnitest.Plugins...)
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	pfPCI = "0000:01:00.0"
	vfPCI = "0000:01:10.0" // VF 0 of pfPCI with the igb's offset 128, stride 2
)

// newNet is a network for one test, which needs root for its namespaces.
func newNet(t *testing.T) *cnitest.Net {
	t.Helper()
	needs.Root(t)
	return cnitest.NewNet(t, binDir)
}

// node is one test's world: a fake sysfs whose VFs are veth ends on the host
// (their peers in a "wire" namespace that plays the switch) and a network.
type node struct {
	*cnitest.Net
	t     *testing.T
	sysfs string
	wire  ns.NetNS
	vfs   []string // VF netdev names on the host, by VF index
}

var nodeSeq int

// newNode makes n VF stand-ins: veth "fpXvN" on the host, its peer "wN" in
// the wire namespace, all peers bridged there with 10.77.0.1/24 on the bridge.
func newNode(t *testing.T, n int) *node {
	t.Helper()
	nodeSeq++
	nd := &node{Net: newNet(t), t: t}
	nd.sysfs = filepath.Join(nd.Dir, "sys")
	nd.wire = cnitest.Pod(t)
	prefix := fmt.Sprintf("fp%dv", nodeSeq%100)
	must(t, fakesysfs.Build(nd.sysfs, fakePF(n, prefix)))
	nd.SetNode("sysfsRoot", nd.sysfs)
	must(t, nd.wire.Do(func(ns.NetNS) error {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
		if err := netlink.LinkAdd(br); err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("10.77.0.1/24")
		if err := netlink.AddrAdd(br, addr); err != nil {
			return err
		}
		return netlink.LinkSetUp(br)
	}))
	for i := range n {
		name := fmt.Sprintf("%s%d", prefix, i)
		veth := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: name, MTU: 1500},
			PeerName:  fmt.Sprintf("w%d", i), PeerNamespace: netlink.NsFd(int(nd.wire.Fd())),
		}
		must(t, netlink.LinkAdd(veth))
		t.Cleanup(func() {
			if l, err := netlink.LinkByName(name); err == nil {
				netlink.LinkDel(l)
			}
		})
		must(t, nd.wire.Do(func(ns.NetNS) error {
			peer, err := netlink.LinkByName(fmt.Sprintf("w%d", i))
			if err != nil {
				return err
			}
			br, _ := netlink.LinkByName("br0")
			if err := netlink.LinkSetMaster(peer, br); err != nil {
				return err
			}
			return netlink.LinkSetUp(peer)
		}))
		nd.vfs = append(nd.vfs, name)
	}
	return nd
}

// fakePF is the emulated igb's layout: 7 VFs at offset 128, stride 2.
func fakePF(n int, prefix string) fakesysfs.PF {
	return fakesysfs.PF{
		PCI: pfPCI, Netdev: "fppf", NumVFs: n, TotalVFs: 7, Offset: 128, Stride: 2,
		VFNetdevPrefix: prefix, VFDriver: "igbvf",
	}
}

// vfPCIAddr is the PCI address of VF i, as fakesysfs lays it out.
func vfPCIAddr(i int) string { return fakePF(7, "").VF(i) }

func (nd *node) pod() ns.NetNS { return cnitest.Pod(nd.t) }

// conf is a conflist of one fastpath plugin on VF 0 of the fake sysfs, with
// a small address range and one route; extra is merged into the plugin.
func (nd *node) conf(cniVersion string, extra map[string]any) *libcni.NetworkConfigList {
	p := nd.Plugin("10.77.0.0/24", map[string]any{"deviceID": vfPCI})
	ipam := p["ipam"].(map[string]any)
	ipam["ranges"] = [][]map[string]any{{{"subnet": "10.77.0.0/24", "rangeStart": "10.77.0.10", "rangeEnd": "10.77.0.20"}}}
	ipam["routes"] = []map[string]any{{"dst": "10.99.0.0/16"}}
	for k, v := range extra {
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	return nd.List(cniVersion, p)
}

// dial opens a TCP connection from the pod to the wire's bridge address,
// where a listener waits: traffic crossed the stand-in VF for real.
func (nd *node) dial(p ns.NetNS) error {
	var ln net.Listener
	err := nd.wire.Do(func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp4", "10.77.0.1:0")
		return err
	})
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	return p.Do(func(ns.NetNS) error {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
			return fmt.Errorf("reading from the wire: %q %v", buf, err)
		}
		return nil
	})
}

var (
	must    = cnitest.Must
	rt      = cnitest.RT
	cniCode = cnitest.Code
)

func hostLink(t *testing.T, name string) cnitest.LinkState { return cnitest.HostLink(t, name) }

// asFound checks that the node is as it was before an ADD (before is its
// first VF's state then): the VF, no record or claim, no lease.
func (nd *node) asFound(t *testing.T, before cnitest.LinkState, when string) {
	t.Helper()
	if after := hostLink(t, nd.vfs[0]); after != before {
		t.Errorf("VF %s: %+v, was %+v", when, after, before)
	}
	if got := nd.StateFiles(); len(got) != 0 {
		t.Errorf("state files %s: %v", when, got)
	}
	if got := nd.Leases(); len(got) != 0 {
		t.Errorf("leases %s: %v", when, got)
	}
}
