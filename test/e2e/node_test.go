//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/test/cnitest"
	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

// pfPCI is the PCI address of the guest's igb PF.
func pfPCI(t *testing.T) string {
	t.Helper()
	pfs, _ := filepath.Glob("/sys/bus/pci/drivers/igb/0000:*")
	if len(pfs) == 0 {
		t.Fatal("no igb PF in the guest")
	}
	return filepath.Base(pfs[0])
}

// A tenant's attempt to reach beyond its device, as issue 16 found it: a
// sysfs tree planted where a pod can write (its emptyDir), describing the
// node's PF as "VF 0" of a made-up PF, and a config that points sysfsRoot
// at it with the PF's address. ADD is refused with code 7 naming sysfsRoot,
// and the PF's netdev stays on the host as it was; without sysfsRoot, the
// real sysfs refuses the PF as no VF (code 100).
func TestPlantedSysfsCannotMovePF(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	pf := pfPCI(t)
	planted := filepath.Join(t.TempDir(), "var/lib/kubelet/pods/evil/volumes/kubernetes.io~empty-dir/sys")
	made := fakesysfs.PF{PCI: "0000:00:00.0", Netdev: "fakepf", NumVFs: 1, TotalVFs: 1, Offset: 256, Stride: 1,
		VFNetdevPrefix: "x", VFDriver: "igbvf"}
	if made.VF(0) != pf {
		t.Fatalf("made-up PF's VF 0 is %s, want the real PF %s", made.VF(0), pf)
	}
	must(t, fakesysfs.Build(planted, made))
	must(t, fakesysfs.SetNetdev(planted, pf, nc.pf))

	n := cnitest.NewNet(t, binDir)
	pod := cnitest.Pod(t)
	p := n.Plugin("10.16.0.0/24", map[string]any{"deviceID": pf, "sysfsRoot": planted})
	_, err := n.Add(n.List("1.1.0", p), cnitest.RT(pod, "evil", "net1"))
	if cnitest.Code(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), `sysfsRoot "`+planted+`"`) {
		t.Errorf("ADD with a planted sysfsRoot = %v, want code 7 naming sysfsRoot and its value", err)
	}
	delete(p, "sysfsRoot")
	_, err = n.Add(n.List("1.1.0", p), cnitest.RT(pod, "evil", "net1"))
	if cnitest.Code(err) != 100 || !strings.Contains(err.Error(), "is a PF") {
		t.Errorf("ADD of the PF's address = %v, want code 100: not a VF", err)
	}
	nc.same(t, before, "after the refused ADDs")
	n.Released(t)
}

// logFile writes as root only into the node's log directory: a path
// elsewhere, existing or not, is neither created nor appended to; the file
// of its name in the log directory gets the lines (configs written for
// sriov-cni or earlier releases give such paths, and keep working).
func TestLogFileStaysInLogDir(t *testing.T) {
	nc := findNIC(t)
	n := cnitest.NewNet(t, binDir)
	pod := cnitest.Pod(t)
	rootFile := "/root/fastpath-e2e-root-file"
	must(t, os.WriteFile(rootFile, []byte("root's\n"), 0o600))
	defer os.Remove(rootFile)
	for _, path := range []string{rootFile, "/etc/fastpath-e2e-created.log"} {
		l := vfConf(n, nc, 3, 100, map[string]any{"logFile": path})
		r := cnitest.RT(pod, "c1", "net1")
		_, err := n.Add(l, r)
		must(t, err)
		must(t, n.Del(l, r))
		if b, err := os.ReadFile(filepath.Join(n.Dir, filepath.Base(path))); err != nil || !strings.Contains(string(b), `"DEL done"`) {
			t.Errorf("logFile %s: the node's log directory has %q (%v), want its DEL done line", path, b, err)
		}
	}
	if b, err := os.ReadFile(rootFile); err != nil || string(b) != "root's\n" {
		t.Errorf("%s is now %q (%v)", rootFile, b, err)
	}
	if _, err := os.Stat("/etc/fastpath-e2e-created.log"); !os.IsNotExist(err) {
		t.Errorf("/etc/fastpath-e2e-created.log was made: %v", err)
	}
	n.Released(t)
}

// A VF netdev that carries the node's default route is the node's uplink
// now, whatever it was made for: ADD refuses it (code 100) and the route and
// the netdev stay as they were.
func TestDefaultRouteNetdevRefused(t *testing.T) {
	nc := findNIC(t)
	vf := nc.names[5]
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("/usr/sbin/ip-full", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	ip("addr", "add", "192.0.2.5/24", "dev", vf)
	ip("link", "set", vf, "up")
	ip("route", "add", "default", "via", "192.0.2.1", "dev", vf, "metric", "4242")
	defer func() {
		exec.Command("/usr/sbin/ip-full", "route", "del", "default", "via", "192.0.2.1", "dev", vf, "metric", "4242").Run()
		exec.Command("/usr/sbin/ip-full", "addr", "del", "192.0.2.5/24", "dev", vf).Run()
		exec.Command("/usr/sbin/ip-full", "link", "set", vf, "down").Run()
	}()
	routes := func() string {
		out, _ := exec.Command("/usr/sbin/ip-full", "route", "show", "default").CombinedOutput()
		return string(out)
	}
	before, routesBefore := nc.snapshot(t), routes()
	n := cnitest.NewNet(t, binDir)
	_, err := n.Add(vfConf(n, nc, 5, 100, nil), cnitest.RT(cnitest.Pod(t), "c1", "net1"))
	if cnitest.Code(err) != 100 || !strings.Contains(err.Error(), "default route") {
		t.Errorf("ADD of a VF carrying the default route = %v, want code 100 naming the default route", err)
	}
	nc.same(t, before, "after the refused ADD")
	if r := routes(); r != routesBefore || !strings.Contains(r, vf) {
		t.Errorf("default routes now\n%s\nwere\n%s", r, routesBefore)
	}
	n.Released(t)
}

// The node's other settings are not a network config's either: a state
// directory (two networks could claim one VF), a pods directory, an OVSDB
// endpoint or OVS socket directory elsewhere (root would make directories
// and hand sockets there), a group the node does not list. Each is code 7
// naming the key and the value, and nothing is made.
func TestNodeKeysRefused(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	n.SetNode("vhostuser", map[string]any{"groups": []int{1000}})
	pod := cnitest.Pod(t)
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	vf := vfConf(n, nc, 4, 100, map[string]any{"stateDir": elsewhere})
	_, err := n.Add(vf, cnitest.RT(pod, "c1", "net1"))
	if cnitest.Code(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), `stateDir "`+elsewhere+`"`) {
		t.Errorf("ADD with stateDir %s = %v, want code 7 naming it", elsewhere, err)
	}
	for _, tc := range []struct {
		key   string
		value any
		want  string
	}{
		{"podsDir", elsewhere, `vhostuser.podsDir "` + elsewhere + `"`},
		{"ovsdb", "unix:" + elsewhere + "/db.sock", `vhostuser.ovsdb "unix:` + elsewhere + `/db.sock"`},
		{"ovsSocketDir", elsewhere, `vhostuser.ovsSocketDir "` + elsewhere + `"`},
		{"group", 0, `vhostuser.group "0"`},
	} {
		l := n.List("1.1.0", n.Plugin("10.16.1.0/24", map[string]any{"mode": "vhostuser",
			"vhostuser": map[string]any{"bridge": "br-dpdk", tc.key: tc.value}}))
		_, err := n.Add(l, cnitest.RT(pod, "c2", "net1"))
		if cnitest.Code(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ADD with vhostuser.%s %v = %v, want code 7 naming %s", tc.key, tc.value, err, tc.want)
		}
	}
	if _, err := os.Lstat(elsewhere); !os.IsNotExist(err) {
		t.Errorf("%s was made: %v", elsewhere, err)
	}
	nc.same(t, before, "after the refused ADDs")
	n.Released(t)
}
