//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// v1Dir holds fastpath as built from the last commit that wrote version 1
// records, test/v1.commit (run.sh builds it from the repository's history).
var v1Dir = filepath.Join(binDir, "v1")

// upgradeNet is a network whose attachments the previous release makes and
// this one releases: both share the state and IPAM directories. The config
// names stateDir and a logFile path, as configs for that release did; this
// release takes both, as they are the node's.
func upgradeNet(t *testing.T) (*cnitest.Net, *libcni.CNIConfig) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(v1Dir, "fastpath")); err != nil {
		t.Skipf("no fastpath of version 1 records in %s (run.sh builds it from git history): %v", v1Dir, err)
	}
	n := cnitest.NewNet(t, binDir)
	return n, libcni.NewCNIConfigWithCacheDir([]string{v1Dir, binDir}, filepath.Join(n.Dir, "cache"), nil)
}

func v1Conf(n *cnitest.Net, l *libcni.NetworkConfigList) *libcni.NetworkConfigList {
	var m map[string]any
	must(n.T, json.Unmarshal(l.Plugins[0].Bytes, &m))
	m["stateDir"], m["logFile"] = n.StateDir, filepath.Join(n.Dir, "fastpath.log")
	return n.List(l.CNIVersion, m)
}

// recordVersion1 fails unless the attachment's record has no version member.
func recordVersion1(t *testing.T, n *cnitest.Net, cid string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.StateDir, "attachments", "fpnet", cid+":net1.json"))
	must(t, err)
	if strings.Contains(string(b), `"version"`) {
		t.Fatalf("the previous release wrote a versioned record: %s", b)
	}
}

// A kernel VF and a vfio VF attached by the previous release (version 1
// records) are released exactly by this one: the PF's VF table, the VF
// netdev, the lease and the record.
func TestUpgradeReleasesVersion1(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n, old := upgradeNet(t)
	p := cnitest.Pod(t)
	l := vfConf(n, nc, 2, 300, map[string]any{"mtu": 1400, "trust": "on"})
	r := cnitest.RT(p, "up-kernel", "net1")
	_, err := old.AddNetworkList(context.Background(), v1Conf(n, l), r)
	must(t, err)
	recordVersion1(t, n, "up-kernel")
	if !strings.Contains(ipLink(t, nc.pf), "vlan 300") {
		t.Fatalf("the previous release did not set VLAN 300:\n%s", ipLink(t, nc.pf))
	}
	must(t, n.Check(v1Conf(n, l), r))
	must(t, n.Del(v1Conf(n, l), r))
	nc.same(t, before, "after this release's DEL of a version 1 attachment")
	n.Released(t)

	pci := nc.vfs[6]
	bind(t, pci, "vfio-pci")
	defer backToKernel(t, nc, 6)
	pfBefore := ipLink(t, nc.pf)
	lv := n.List("1.1.0", n.Plugin("10.61.0.0/24", map[string]any{
		"deviceID": pci, "vlan": 610, "mac": "02:61:00:00:00:01", "spoofchk": "off", "trust": "on",
	}))
	rv := cnitest.RT(p, "up-vfio", "net1")
	_, err = old.AddNetworkList(context.Background(), v1Conf(n, lv), rv)
	must(t, err)
	recordVersion1(t, n, "up-vfio")
	must(t, n.Del(lv, rv))
	if after := ipLink(t, nc.pf); after != pfBefore {
		t.Errorf("PF after this release's DEL of a version 1 vfio VF:\n--- before\n%s--- after\n%s", pfBefore, after)
	}
	n.Released(t)
}

// An attachment of the previous release whose pod died without a DEL is
// found and released by this release's fastpathctl gc.
func TestUpgradeGCVersion1(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n, old := upgradeNet(t)
	p := cnitest.Pod(t)
	l := v1Conf(n, vfConf(n, nc, 3, 301, nil))
	_, err := old.AddNetworkList(context.Background(), l, cnitest.RT(p, "up-gc", "net1"))
	must(t, err)
	recordVersion1(t, n, "up-gc")
	p.Close()
	must(t, unix.Unmount(p.Path(), unix.MNT_DETACH))
	var g ctlGC
	fastpathctl(t, n, 0, &g, "gc")
	if len(g.Findings) != 1 || g.Findings[0].Key != "fpnet/up-gc:net1" || g.Findings[0].Device != nc.vfs[3] {
		t.Errorf("gc findings %+v, want the version 1 attachment on %s", g.Findings, nc.vfs[3])
	}
	nc.same(t, before, "after fastpathctl gc of a version 1 attachment")
	n.Released(t)
}
