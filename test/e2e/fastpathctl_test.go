//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// What the tests read of fastpathctl's JSON.
type (
	ctlList struct {
		PFs []struct {
			PCI, Netdev, Error string
			NumVFs, TotalVFs   int
			VFs                []ctlVF
		}
	}
	ctlVF struct {
		VF                                int
		PCI, Netdev, Driver, Mode, Status string
		ContainerID, NetNS, IfName        string
		MAC                               *string
		VLAN, QoS                         *int
		Trust, SpoofChk                   *bool
	}
	ctlGC struct {
		Findings []struct{ Kind, Key, Device, Result, Error string }
	}
	ctlDoctor struct {
		Checks []struct{ Name, Status, Detail, Fix string }
	}
)

// fastpathctl runs the guest's fastpathctl with the test network's node file
// (the state directory; sysfs and the rest at their defaults), wants exit code
// want (-1: any), decodes -o json into v, and returns the table output too.
func fastpathctl(t *testing.T, n *cnitest.Net, want int, v any, args ...string) string {
	t.Helper()
	run := func(extra ...string) (string, int) {
		cmd := exec.Command(filepath.Join(binDir, "fastpathctl"), append(append(args, "--cni-bin-dir", binDir), extra...)...)
		cmd.Env = append(os.Environ(), n.Env()) // the state directory is the node file's
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
			out = append(out, ee.Stderr...)
		} else if err != nil {
			t.Fatalf("fastpathctl %v: %v", args, err)
		}
		return string(out), code
	}
	out, code := run("-o", "json")
	if want >= 0 && code != want {
		t.Fatalf("fastpathctl %v: exit code %d, want %d:\n%s", args, code, want, out)
	}
	must(t, json.Unmarshal([]byte(out), v))
	if strings.Join(args, " ") == "gc" {
		return "" // it acted: a second run would find nothing
	}
	table, _ := run()
	t.Logf("fastpathctl %s:\n%s", strings.Join(args, " "), table)
	return table
}

// pfVFRe is one VF of `ip link show PF`: index, MAC, then VLAN, spoof
// checking and trust where shown.
var pfVFRe = regexp.MustCompile(`(?m)^\s+vf (\d+)\s+link/ether (\S+) .*$`)

// On the emulated igb, with two pods on VLANs: `fastpathctl list` shows who
// holds which VF and, from the PF's VF table, each VF's MAC, VLAN, trust and
// spoof checking as `ip link show` does. One pod's netns goes:
// `fastpathctl gc` releases its VF through the plugin's DEL, exactly as it
// was, and leaves the other pod's alone. doctor sees SR-IOV with 7/7 VFs.
func TestFastpathctl(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	const keep, gone = 2, 5
	podKeep, podGone := cnitest.Pod(t), cnitest.Pod(t)
	lKeep := vfConf(n, nc, keep, 300, map[string]any{"trust": "on"})
	lGone := vfConf(n, nc, gone, 301, map[string]any{"vlanQoS": 4, "spoofchk": "off"})
	rKeep, rGone := cnitest.RT(podKeep, "keep", "net1"), cnitest.RT(podGone, "gone", "net1")
	_, err := n.Add(lKeep, rKeep)
	must(t, err)
	defer n.Del(lKeep, rKeep) // after a failure, free the VF for the next tests
	// The NIC with only the kept pod attached: what gc must return to.
	ncKeep := nc
	ncKeep.names = append([]string(nil), nc.names...)
	ncKeep.names[keep] = ""
	withKeep := ncKeep.snapshot(t)
	_, err = n.Add(lGone, rGone)
	must(t, err)
	defer n.Del(lGone, rGone)

	// list: the pods, and the PF's VF table as iproute2 shows it.
	var l ctlList
	fastpathctl(t, n, 0, &l, "list")
	if len(l.PFs) != 1 || l.PFs[0].Netdev != nc.pf || l.PFs[0].NumVFs != 7 || l.PFs[0].TotalVFs != 7 ||
		l.PFs[0].Error != "" || len(l.PFs[0].VFs) != 7 {
		t.Fatalf("list PFs = %+v", l.PFs)
	}
	vfs := l.PFs[0].VFs
	pfShow := ipLink(t, nc.pf)
	for _, m := range pfVFRe.FindAllStringSubmatch(pfShow, -1) {
		i, _ := strconv.Atoi(m[1])
		v := vfs[i]
		if v.VF != i || v.PCI != nc.vfs[i] || v.MAC == nil || *v.MAC != m[2] || v.VLAN == nil || v.Trust == nil || v.SpoofChk == nil {
			t.Errorf("VF %d: %+v, ip link shows %q", i, v, m[0])
			continue
		}
		vlan := 0
		if vm := regexp.MustCompile(`, vlan (\d+)`).FindStringSubmatch(m[0]); vm != nil {
			vlan, _ = strconv.Atoi(vm[1])
		}
		onOff := map[bool]string{true: "on", false: "off"}
		if *v.VLAN != vlan || !strings.Contains(m[0], "spoof checking "+onOff[*v.SpoofChk]) || !strings.Contains(m[0], "trust "+onOff[*v.Trust]) {
			t.Errorf("VF %d: vlan %d spoofchk %v trust %v, ip link shows %q", i, *v.VLAN, *v.SpoofChk, *v.Trust, m[0])
		}
	}
	for i, v := range vfs {
		switch i {
		case keep, gone:
			id, p := "keep", podKeep
			mac, vlan, qos, trust, spoof := "02:fa:00:00:00:03", 300, 0, true, true
			if i == gone {
				id, p = "gone", podGone
				mac, vlan, qos, trust, spoof = "02:fa:00:00:00:06", 301, 4, false, false
			}
			if v.Status != "attached" || v.ContainerID != id || v.NetNS != p.Path() || v.IfName != "net1" || v.Netdev != "net1" ||
				v.Mode != "kernel" || v.Driver != "igbvf" || *v.MAC != mac || *v.VLAN != vlan || *v.QoS != qos ||
				*v.Trust != trust || *v.SpoofChk != spoof {
				t.Errorf("VF %d of pod %s: %+v (mac %s vlan %d qos %d trust %v spoofchk %v)", i, id, v, *v.MAC, *v.VLAN, *v.QoS, *v.Trust, *v.SpoofChk)
			}
		default:
			if v.Status != "free" || v.Netdev != nc.names[i] || v.ContainerID != "" || *v.VLAN != 0 {
				t.Errorf("free VF %d: %+v", i, v)
			}
		}
	}

	// The gone pod's netns goes, as a runtime deletes it; the kernel hands
	// the VF back to the host under its pod name.
	podGone.Close()
	must(t, unix.Unmount(podGone.Path(), unix.MNT_DETACH))
	var g ctlGC
	fastpathctl(t, n, 0, &g, "gc", "--dry-run")
	if len(g.Findings) != 1 || g.Findings[0].Kind != "stale-netns" || g.Findings[0].Key != "fpnet/gone:net1" || g.Findings[0].Result != "dry-run" {
		t.Errorf("gc --dry-run: %+v", g)
	}
	g = ctlGC{}
	fastpathctl(t, n, 0, &g, "gc")
	if len(g.Findings) != 1 || g.Findings[0].Kind != "stale-netns" || g.Findings[0].Device != nc.vfs[gone] || g.Findings[0].Result != "done" {
		t.Errorf("gc: %+v", g)
	}
	ncKeep.same(t, withKeep, "after fastpathctl gc")
	must(t, podKeep.Do(func(ns.NetNS) error { _, err := netlink.LinkByName("net1"); return err }))
	must(t, n.Check(lKeep, rKeep))
	if got := len(n.Leases()); got != 1 {
		t.Errorf("%d leases after gc, want the kept pod's", got)
	}
	l = ctlList{}
	fastpathctl(t, n, 0, &l, "list")
	if v := l.PFs[0].VFs[gone]; v.Status != "free" || v.Netdev != nc.names[gone] {
		t.Errorf("VF %d after gc: %+v", gone, v)
	}

	// A VLAN set by hand on a VF that no record holds: reported, untouched.
	pfLink, err := netlink.LinkByName(nc.pf)
	must(t, err)
	must(t, netlink.LinkSetVfVlan(pfLink, 0, 77))
	defer netlink.LinkSetVfVlan(pfLink, 0, 0)
	g = ctlGC{}
	fastpathctl(t, n, 0, &g, "gc")
	if len(g.Findings) != 1 || g.Findings[0].Kind != "unrecorded-vf-config" || g.Findings[0].Device != nc.vfs[0] || g.Findings[0].Result != "reported" {
		t.Errorf("gc with a hand-set VLAN on VF 0: %+v", g)
	}
	if pf := ipLink(t, nc.pf); !strings.Contains(pf, "vf 0     link/ether "+*l.PFs[0].VFs[0].MAC+" brd ff:ff:ff:ff:ff:ff, vlan 77") {
		t.Errorf("gc touched VF 0's VLAN:\n%s", pf)
	}
	must(t, netlink.LinkSetVfVlan(pfLink, 0, 0))

	// doctor: SR-IOV on the igb with all its VFs.
	var d ctlDoctor
	// Exit code 1 would be a failure elsewhere (hugepages, OVSDB and the
	// pods directory only warn); this test is about SR-IOV.
	out := fastpathctl(t, n, -1, &d, "doctor")
	found := false
	for _, c := range d.Checks {
		if c.Name == "sriov" {
			found = true
			if c.Status != "OK" || !strings.Contains(c.Detail, "7/7 VFs") || !strings.Contains(c.Detail, nc.pf) {
				t.Errorf("doctor sriov: %+v", c)
			}
		}
	}
	if !found || !regexp.MustCompile(`(?m)^OK +sriov +\S+ \(`+nc.pf+`, igb\): 7/7 VFs`).MatchString(out) {
		t.Errorf("doctor shows no SR-IOV OK with 7/7 VFs: %+v\n%s", d, out)
	}

	must(t, n.Del(lKeep, rKeep))
	nc.same(t, before, "after DEL")
	n.Released(t)
}
