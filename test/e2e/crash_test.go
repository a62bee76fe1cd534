//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// crashCases kills the plugin after every step of ADD, then of DEL (as
// SIGKILL would: the fault-injection build), and each time the next DEL
// must bring the NIC back exactly as before ADD, with no lease or record
// left. The steps are not a sample: a traced ADD and DEL list them all.
func crashCases(t *testing.T, nc nic, conf func(n *cnitest.Net) *libcni.NetworkConfigList) {
	crashDir := cnitest.CrashBin(t, binDir, filepath.Join(binDir, "fastpath-crash"))
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, crashDir)
	l := conf(n)
	p := cnitest.Pod(t)
	r := cnitest.RT(p, "crash", "net1")
	points := cnitest.Trace(t, func() {
		_, err := n.Add(l, r)
		must(t, err)
		must(t, n.Del(l, r))
	})
	t.Logf("ADD steps %v, DEL steps %v", points["add"], points["del"])
	for _, point := range points["add"] {
		t.Run(point, func(t *testing.T) {
			cnitest.CrashAt(t, point, func() {
				if _, err := n.Add(l, r); err == nil {
					t.Fatalf("ADD survived a crash at %s", point)
				}
			})
			must(t, n.Del(l, r))
			nc.same(t, before, fmt.Sprintf("after a crash at %s and DEL", point))
			n.Released(t)
		})
	}
	for _, point := range points["del"] {
		t.Run(point, func(t *testing.T) {
			_, err := n.Add(l, r)
			must(t, err)
			cnitest.CrashAt(t, point, func() {
				if err := n.Del(l, r); err == nil {
					t.Fatalf("DEL survived a crash at %s", point)
				}
			})
			must(t, n.Del(l, r))
			nc.same(t, before, fmt.Sprintf("after a crash at %s and DEL", point))
			n.Released(t)
		})
	}
}

func TestCrashKernelVF(t *testing.T) {
	nc := findNIC(t)
	crashCases(t, nc, func(n *cnitest.Net) *libcni.NetworkConfigList {
		return vfConf(n, nc, 0, 100, map[string]any{"mtu": 1400, "vlanQoS": 1, "trust": "on", "max_tx_rate": 50})
	})
}

func TestCrashVfioVF(t *testing.T) {
	nc := findNIC(t)
	pci := nc.vfs[6]
	bind(t, pci, "vfio-pci")
	defer backToKernel(t, nc, 6)
	nc = findNICExcept(t, 6)
	crashCases(t, nc, func(n *cnitest.Net) *libcni.NetworkConfigList {
		info := filepath.Join(n.Dir, "devinfo.json")
		return n.List("1.1.0", n.Plugin("10.61.0.0/24", map[string]any{
			"deviceID": pci, "vlan": 610, "mac": "02:61:00:00:00:01", "spoofchk": "off",
			"runtimeConfig": map[string]any{"CNIDeviceInfoFile": info},
		}))
	})
}
