package fastpathctl_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	fpnode "github.com/fastpath-cni/fastpath/pkg/node"
	"github.com/fastpath-cni/fastpath/test/cnitest"
	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

// Two pods through libcni: list shows who holds which VF, show finds them by
// container and by PCI. One pod's netns goes: gc --dry-run reports it (and a
// dangling claim) and changes nothing; gc releases it through the plugin's
// DEL and removes the claim, leaving the other pod alone.
func TestListShowGC(t *testing.T) {
	nd := newNode(t, 3)
	podA, podB := cnitest.Pod(t), cnitest.Pod(t)
	_, err := nd.Add(nd.conf(0), rt(podA, "ctr-a"))
	cnitest.Must(t, err)
	_, err = nd.Add(nd.conf(1), rt(podB, "ctr-b"))
	cnitest.Must(t, err)
	flags := nd.flags()

	// list
	var l listJSON
	ctlJSON(t, 0, &l, append([]string{"list"}, flags...)...)
	if len(l.PFs) != 1 || l.PFs[0].PCI != pfPCI || l.PFs[0].NumVFs != 3 || l.PFs[0].TotalVFs != 7 || len(l.PFs[0].VFs) != 3 {
		t.Fatalf("list PFs = %+v", l.PFs)
	}
	if l.PFs[0].Error == "" {
		t.Errorf("the fake PF has no netdev on the host, yet list reports no error reading its VF table")
	}
	for i, p := range []ns.NetNS{podA, podB} {
		id := []string{"ctr-a", "ctr-b"}[i]
		v := l.vf(t, vfPCI(i))
		if v.VF != i || v.ContainerID != id || v.NetNS != p.Path() || !v.NetNSAlive || v.IfName != "net1" ||
			v.Pod != "nfv/pod-"+id || v.PodUID != "uid-"+id || v.Status != "attached" || v.Mode != "kernel" ||
			v.Driver != "igbvf" || v.Netdev != "net1" || v.MAC != nil || v.VLAN != nil {
			t.Errorf("VF %d: %+v", i, v)
		}
	}
	if v := l.vf(t, vfPCI(2)); v.Status != "free" || v.ContainerID != "" || v.Netdev != nd.vfs[2] || v.Mode != "kernel" {
		t.Errorf("free VF 2: %+v", v)
	}
	if len(l.VhostUser) != 0 || len(l.Orphans) != 0 {
		t.Errorf("vhost-user %+v, orphans %+v", l.VhostUser, l.Orphans)
	}
	out, _, code := ctl(t, append([]string{"list"}, flags...)...)
	t.Logf("fastpathctl list:\n%s", out)
	lines := strings.Split(out, "\n")
	if code != 0 || !strings.HasPrefix(lines[0], "PF    VF  PCI           NETDEV  ") || !strings.Contains(out, "ctr-a") ||
		!strings.Contains(out, "nfv/pod-ctr-b") || len(lines) < 4 {
		t.Errorf("list table (exit %d):\n%s", code, out)
	}

	// show by container ID, by prefix, by pod, by PCI (also without domain)
	type showJSON struct {
		Kind, ContainerID string
		VF                *struct {
			vfJSON
			OnNode bool
			Claim  string
			Record *struct {
				ContainerID, PCI string
				NetdevOrig       *struct{ Name string }
			}
		}
		Attachments []struct {
			Key    string
			Record struct {
				ContainerID, PCI, NetNS, Args string
				NetdevOrig                    *struct {
					Name string
					MTU  int
				}
			}
			VF *vfJSON
		}
	}
	for _, q := range []string{"ctr-a", "ctr-", "nfv/pod-ctr-a"} {
		var s showJSON
		want := 0
		if q == "ctr-" {
			want = 1 // ambiguous: ctr-a and ctr-b
		}
		out, errOut, code := ctl(t, append([]string{"show", q, "-o", "json"}, flags...)...)
		if code != want {
			t.Errorf("show %s: exit %d, want %d: %s %s", q, code, want, out, errOut)
			continue
		}
		if want != 0 {
			if !strings.Contains(errOut, "ctr-a, ctr-b") {
				t.Errorf("show %s: %s", q, errOut)
			}
			continue
		}
		ctlJSON(t, 0, &s, append([]string{"show", q}, flags...)...)
		if s.Kind != "container" || s.ContainerID != "ctr-a" || len(s.Attachments) != 1 {
			t.Fatalf("show %s = %+v", q, s)
		}
		a := s.Attachments[0]
		if a.Key != "fpnet/ctr-a:net1" || a.Record.PCI != vfPCI(0) || a.Record.NetNS != podA.Path() ||
			a.Record.NetdevOrig == nil || a.Record.NetdevOrig.Name != nd.vfs[0] || a.Record.NetdevOrig.MTU != 1500 ||
			!strings.Contains(a.Record.Args, "K8S_POD_UID=uid-ctr-a") || a.VF == nil || a.VF.Status != "attached" {
			t.Errorf("show %s attachment %+v", q, a)
		}
	}
	for _, q := range []string{vfPCI(1), strings.TrimPrefix(vfPCI(1), "0000:")} {
		var s showJSON
		ctlJSON(t, 0, &s, append([]string{"show", q}, flags...)...)
		if s.Kind != "vf" || s.VF == nil || !s.VF.OnNode || s.VF.PCI != vfPCI(1) || s.VF.ContainerID != "ctr-b" ||
			s.VF.Claim != "fpnet/ctr-b:net1" || s.VF.Record == nil || s.VF.Record.ContainerID != "ctr-b" ||
			s.VF.Record.NetdevOrig == nil || s.VF.Record.NetdevOrig.Name != nd.vfs[1] {
			t.Errorf("show %s = %+v", q, s)
		}
	}
	out, _, code = ctl(t, append([]string{"show", "ctr-a"}, flags...)...)
	t.Logf("fastpathctl show ctr-a:\n%s", out)
	if code != 0 || !strings.Contains(out, "netdev before") || !strings.Contains(out, nd.vfs[0]+" mac ") {
		t.Errorf("show ctr-a table (exit %d):\n%s", code, out)
	}
	for _, q := range []string{"nobody", "0000:01:10.6"} {
		if _, errOut, code := ctl(t, append([]string{"show", q}, flags...)...); code != 1 {
			t.Errorf("show %s: exit %d, want 1: %s", q, code, errOut)
		}
	}

	// Leftovers: a claim on VF 2 without a record, a record set aside.
	must := func(err error) { t.Helper(); cnitest.Must(t, err) }
	must(os.Symlink("fpnet/ghost:net1", filepath.Join(nd.StateDir, "devices", vfPCI(2))))
	corrupt := filepath.Join(nd.StateDir, "attachments", "fpnet", "bad:net1.corrupt")
	must(os.WriteFile(corrupt, []byte("{trunc"), 0o600))
	l = listJSON{}
	ctlJSON(t, 0, &l, append([]string{"list"}, flags...)...)
	if v := l.vf(t, vfPCI(2)); v.Status != "claimed" {
		t.Errorf("VF 2 with a dangling claim: %+v", v)
	}

	// Pod A's netns goes, as a runtime deletes it (the veth stand-in dies
	// with it; a real VF comes back: test/e2e).
	must(unmount(podA))
	l = listJSON{}
	ctlJSON(t, 0, &l, append([]string{"list"}, flags...)...)
	if v := l.vf(t, vfPCI(0)); v.Status != "stale" || v.NetNSAlive {
		t.Errorf("VF 0 after its netns went: %+v", v)
	}

	// gc --dry-run reports and changes nothing.
	before := tree(t, nd.StateDir, nd.IPAMDir) + "\n" + hostLinks(t)
	var g gcJSON
	ctlJSON(t, 0, &g, append([]string{"gc", "--dry-run"}, flags...)...)
	if f := g.find("stale-netns", "fpnet/ctr-a:net1"); !g.DryRun || f == nil || f.Result != "dry-run" || f.Device != vfPCI(0) {
		t.Errorf("gc --dry-run: stale pod A: %+v", g)
	}
	if f := g.find("dangling-claim", vfPCI(2)); f == nil || f.Result != "dry-run" || f.Key != "fpnet/ghost:net1" {
		t.Errorf("gc --dry-run: dangling claim: %+v", g)
	}
	if f := g.find("corrupt-record", "fpnet/bad:net1"); f == nil || f.Result != "reported" {
		t.Errorf("gc --dry-run: corrupt record: %+v", g)
	}
	if f := g.find("stale-netns", "fpnet/ctr-b:net1"); f != nil {
		t.Errorf("gc --dry-run would release the live pod B: %+v", f)
	}
	out, _, code = ctl(t, append([]string{"gc", "--dry-run"}, flags...)...)
	t.Logf("fastpathctl gc --dry-run:\n%s", out)
	if code != 0 || !regexp.MustCompile(`(?m)^dry-run +stale-netns +fpnet/ctr-a:net1 `).MatchString(out) {
		t.Errorf("gc --dry-run table (exit %d):\n%s", code, out)
	}
	if after := tree(t, nd.StateDir, nd.IPAMDir) + "\n" + hostLinks(t); after != before {
		t.Errorf("gc --dry-run changed the node:\n--- before\n%s\n--- after\n%s", before, after)
	}

	// gc releases A through the plugin and drops the claim.
	leases := nd.Leases()
	g = gcJSON{}
	ctlJSON(t, 0, &g, append([]string{"gc"}, flags...)...)
	if f := g.find("stale-netns", "fpnet/ctr-a:net1"); g.DryRun || f == nil || f.Result != "done" {
		t.Errorf("gc: stale pod A: %+v", g)
	}
	if f := g.find("dangling-claim", vfPCI(2)); f == nil || f.Result != "done" {
		t.Errorf("gc: dangling claim: %+v", g)
	}
	state := nd.StateFiles()
	wantState := []string{"/attachments/fpnet/bad:net1.corrupt", "/attachments/fpnet/ctr-b:net1.json", "/devices/" + vfPCI(1)}
	if !slices.Equal(state, wantState) {
		t.Errorf("state after gc = %v, want %v", state, wantState)
	}
	if got := nd.Leases(); len(got) != 1 || len(leases) != 2 || !slices.Contains(leases, got[0]) {
		t.Errorf("leases after gc = %v (before %v), want only pod B's", got, leases)
	}
	must(podB.Do(func(ns.NetNS) error { _, err := netlink.LinkByName("net1"); return err }))
	l = listJSON{}
	ctlJSON(t, 0, &l, append([]string{"list"}, flags...)...)
	if a, b, c := l.vf(t, vfPCI(0)), l.vf(t, vfPCI(1)), l.vf(t, vfPCI(2)); a.Status != "free" || b.Status != "attached" || c.Status != "free" {
		t.Errorf("after gc: VF 0 %s, VF 1 %s, VF 2 %s", a.Status, b.Status, c.Status)
	}

	// Nothing left but the corrupt record, which gc only reports.
	g = gcJSON{}
	ctlJSON(t, 0, &g, append([]string{"gc"}, flags...)...)
	if len(g.Findings) != 1 || g.Findings[0].Kind != "corrupt-record" {
		t.Errorf("second gc: %+v", g)
	}
	must(os.Remove(corrupt))
	must(nd.Del(nd.conf(1), rt(podB, "ctr-b")))
	nd.Released(t)
}

// A record whose pod is gone but whose DEL fails stays, and gc exits 1.
func TestGCFailureExitCode(t *testing.T) {
	nd := newNode(t, 1)
	pod := cnitest.Pod(t)
	_, err := nd.Add(nd.conf(0), rt(pod, "ctr-x"))
	cnitest.Must(t, err)
	cnitest.Must(t, unmount(pod))
	// No IPAM plugin where the DEL looks for it.
	empty := t.TempDir()
	cnitest.Must(t, os.Symlink(filepath.Join(binDir, "fastpath"), filepath.Join(empty, "fastpath")))
	flags := append(nd.flags(), "--cni-bin-dir", empty)
	var g gcJSON
	ctlJSON(t, 1, &g, append([]string{"gc"}, flags...)...)
	if f := g.find("stale-netns", "fpnet/ctr-x:net1"); f == nil || f.Result != "failed" || !strings.Contains(f.Error, "host-local") {
		t.Errorf("gc without host-local: %+v", g)
	}
	if got := nd.StateFiles(); len(got) != 2 {
		t.Errorf("state after the failed gc = %v, want the record and claim kept", got)
	}
	ctlJSON(t, 0, &g, append([]string{"gc"}, nd.flags()...)...)
	nd.Released(t)
}

// doctor: SR-IOV, the CNI bin dir and the state dir's mode, with a fix for
// each failure.
func TestDoctor(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "sys")
	cnitest.Must(t, fakesysfs.Build(sys, fakePF(7, "fcdv")))
	stateDir := filepath.Join(dir, "state")
	pods := filepath.Join(dir, "pods")
	cnitest.Must(t, os.Mkdir(pods, 0o755))
	flags := func(stateDir, bin string) []string {
		return []string{"doctor", "--sysfs-root", sys, "--state-dir", stateDir, "--cni-bin-dir", bin,
			"--pods-dir", pods, "--ovsdb", "unix:" + filepath.Join(dir, "no.sock")}
	}

	// Absent state dir: OK, the first ADD makes it.
	var d doctorJSON
	ctlJSON(t, 0, &d, flags(stateDir, binDir)...)
	if c := d.check(t, "state-dir"); c.Status != "OK" || !strings.Contains(c.Detail, "absent") {
		t.Errorf("absent state dir: %+v", c)
	}
	if c := d.check(t, "sriov"); c.Status != "OK" || !strings.Contains(c.Detail, "7/7 VFs") || !strings.Contains(c.Detail, "7 igbvf") {
		t.Errorf("sriov: %+v", c)
	}
	if c := d.check(t, "cni-bin"); c.Status != "OK" || !strings.Contains(c.Detail, "1.1.0") {
		t.Errorf("cni-bin: %+v", c)
	}
	if c := d.check(t, "ovsdb"); c.Status != "WARN" || c.Fix == "" {
		t.Errorf("ovsdb: %+v", c)
	}
	if c := d.check(t, "pods-dir"); c.Status != "OK" {
		t.Errorf("pods-dir: %+v", c)
	}
	if !d.OK {
		t.Errorf("doctor not OK: %+v", d)
	}
	// The fake PF's netdev is not a real one: its driver cannot be asked.
	if c := d.check(t, "pf-port"); c.Status != "WARN" || !strings.Contains(c.Detail, "not read") || !strings.Contains(c.Detail, "eswitch legacy") {
		t.Errorf("pf-port of a PF whose netdev does not answer: %+v", c)
	}
	// In switchdev mode: a warning naming the mode, and how to leave it.
	switchdev := fakePF(7, "")
	switchdev.SwitchID, switchdev.PortName = "0a0b0c0d0e0f1011", "p0"
	cnitest.Must(t, fakesysfs.SetPort(sys, switchdev))
	d = doctorJSON{}
	ctlJSON(t, 0, &d, flags(stateDir, binDir)...)
	if c := d.check(t, "pf-port"); c.Status != "WARN" || !strings.Contains(c.Detail, "eswitch switchdev") ||
		!strings.Contains(c.Fix, "devlink dev eswitch set pci/"+pfPCI+" mode legacy") {
		t.Errorf("pf-port in switchdev mode: %+v", c)
	}
	var show struct {
		Kind string
		PF   struct{ PCI, Netdev, Eswitch, SwitchID, PortName, LinkError string }
	}
	ctlJSON(t, 0, &show, "show", pfPCI, "--sysfs-root", sys, "--state-dir", stateDir)
	if p := show.PF; show.Kind != "pf" || p.PCI != pfPCI || p.Netdev != "fcpf" || p.Eswitch != "switchdev" ||
		p.SwitchID != switchdev.SwitchID || p.PortName != "p0" || p.LinkError == "" {
		t.Errorf("show PF in switchdev mode: %+v", show)
	}

	// A good state dir, then one others can read.
	cnitest.Must(t, os.Mkdir(stateDir, 0o700))
	d = doctorJSON{}
	ctlJSON(t, 0, &d, flags(stateDir, binDir)...)
	if c := d.check(t, "state-dir"); c.Status != "OK" || c.Fix != "" {
		t.Errorf("state dir 0700: %+v", c)
	}
	cnitest.Must(t, os.Chmod(stateDir, 0o755))
	d = doctorJSON{}
	ctlJSON(t, 1, &d, flags(stateDir, binDir)...)
	if c := d.check(t, "state-dir"); d.OK || c.Status != "FAIL" || !strings.Contains(c.Detail, "0755") || !strings.Contains(c.Fix, "chmod -R go-rwx "+stateDir) {
		t.Errorf("state dir 0755: %+v", c)
	}
	out, _, code := ctl(t, flags(stateDir, binDir)...)
	if code != 1 || !strings.Contains(out, "FAIL    state-dir") || !strings.Contains(out, "fix: chmod -R go-rwx "+stateDir) {
		t.Errorf("doctor table (exit %d):\n%s", code, out)
	}

	// No fastpath in the CNI bin dir; SR-IOV switched off.
	cnitest.Must(t, os.Chmod(stateDir, 0o700))
	cnitest.Must(t, fakesysfs.SetNumVFs(sys, pfPCI, 0))
	d = doctorJSON{}
	ctlJSON(t, 1, &d, flags(stateDir, t.TempDir())...)
	if c := d.check(t, "cni-bin"); c.Status != "FAIL" || !strings.Contains(c.Fix, "install") {
		t.Errorf("cni-bin without fastpath: %+v", c)
	}
	if c := d.check(t, "sriov"); c.Status != "FAIL" || !strings.Contains(c.Fix, "echo 7 > "+filepath.Join(sys, "bus/pci/devices", pfPCI, "sriov_numvfs")) {
		t.Errorf("sriov off: %+v", c)
	}
}

// Usage errors exit 2; problems exit 1.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"list", "-o", "yaml"}, 2},
		{[]string{"bogus"}, 2},
		{[]string{"show"}, 2},
		{[]string{"list", "extra"}, 2},
		{[]string{"gc", "--no-such-flag"}, 2},
		{[]string{"list", "--state-dir", dir, "--sysfs-root", dir}, 0},
		{[]string{"show", "ctr", "--state-dir", dir, "--sysfs-root", dir}, 1},
	} {
		if _, errOut, code := ctl(t, c.args...); code != c.want {
			t.Errorf("fastpathctl %s: exit %d, want %d: %s", strings.Join(c.args, " "), code, c.want, errOut)
		}
	}
}

// fastpathctl reads the node file the plugin reads: its settings are the
// flags' defaults, and a broken one is exit 1 naming the file and the key,
// not a look at the wrong directories.
func TestNodeFile(t *testing.T) {
	nd := newNode(t, 1)
	var l listJSON
	ctlJSON(t, 0, &l, "list", "--cni-bin-dir", binDir)
	if len(l.PFs) != 1 || l.PFs[0].PCI != pfPCI || len(l.PFs[0].VFs) != 1 {
		t.Errorf("list with the node file's sysfsRoot = %+v", l)
	}
	bad := filepath.Join(t.TempDir(), "node.json")
	cnitest.Must(t, os.WriteFile(bad, []byte(`{"statedir2":"/x"}`), 0o600))
	t.Setenv(fpnode.PathEnv, bad)
	if _, errOut, code := ctl(t, "list"); code != 1 || !strings.Contains(errOut, bad) || !strings.Contains(errOut, "statedir2") {
		t.Errorf("list with a broken node file: exit %d, stderr %q; want 1 naming the file and the key", code, errOut)
	}
	t.Setenv(fpnode.PathEnv, nd.NodeFile)
}

// A record whose VF left the node (SR-IOV switched down under a live pod)
// shows as an orphan; show finds it by PCI; gc reports it and touches
// nothing, since its pod is alive.
func TestOrphanRecord(t *testing.T) {
	nd := newNode(t, 2)
	pod := cnitest.Pod(t)
	_, err := nd.Add(nd.conf(1), rt(pod, "ctr-o"))
	cnitest.Must(t, err)
	cnitest.Must(t, fakesysfs.SetNumVFs(nd.sysfs, pfPCI, 1))
	flags := nd.flags()
	var l listJSON
	ctlJSON(t, 0, &l, append([]string{"list"}, flags...)...)
	if len(l.PFs) != 1 || len(l.PFs[0].VFs) != 1 || len(l.Orphans) != 1 {
		t.Fatalf("list = %+v", l)
	}
	if o := l.Orphans[0]; o.PCI != vfPCI(1) || o.Status != "orphan" || o.ContainerID != "ctr-o" || !o.NetNSAlive || o.VF != 1 {
		t.Errorf("orphan = %+v", o)
	}
	var s struct {
		Kind string
		VF   struct {
			vfJSON
			OnNode bool
			Record *struct{ ContainerID string }
		}
	}
	ctlJSON(t, 0, &s, append([]string{"show", vfPCI(1)}, flags...)...)
	if s.Kind != "vf" || s.VF.OnNode || s.VF.Status != "orphan" || s.VF.Record == nil || s.VF.Record.ContainerID != "ctr-o" {
		t.Errorf("show %s = %+v", vfPCI(1), s)
	}
	before := tree(t, nd.StateDir, nd.IPAMDir)
	var g gcJSON
	ctlJSON(t, 0, &g, append([]string{"gc"}, flags...)...)
	if f := g.find("record-without-device", "fpnet/ctr-o:net1"); len(g.Findings) != 1 || f == nil || f.Result != "reported" {
		t.Errorf("gc = %+v", g)
	}
	if after := tree(t, nd.StateDir, nd.IPAMDir); after != before {
		t.Errorf("gc changed the state of a live pod:\n--- before\n%s\n--- after\n%s", before, after)
	}
	cnitest.Must(t, fakesysfs.SetNumVFs(nd.sysfs, pfPCI, 2))
	cnitest.Must(t, nd.Del(nd.conf(1), rt(pod, "ctr-o")))
	nd.Released(t)
}
