package fastpathctl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fpnode "github.com/fastpath-cni/fastpath/pkg/node"
	"github.com/fastpath-cni/fastpath/test/cnitest"
	"github.com/fastpath-cni/fastpath/test/ovsenv"
)

// On a private OVS-DPDK: list shows each vhost-user attachment with its
// port and the port's link state; gc --dry-run changes nothing; gc deletes
// a port that carries fastpath's external_ids but has no record, and
// releases the attachment of a pod whose netns is gone through the plugin's
// DEL, leaving the live pod's port alone.
func TestVhostUserOVS(t *testing.T) {
	const bridge = "br-fc"
	o := ovsenv.Start(t)
	o.AddBridge(bridge)
	n := cnitest.NewNet(t, binDir)
	pods, err := os.MkdirTemp("", "fc-pods-") // short: sockets live below it
	cnitest.Must(t, err)
	t.Cleanup(func() { os.RemoveAll(pods) })
	n.SetNode("vhostuser", map[string]any{"ovsdb": "unix:" + o.DBSock, "podsDir": pods})
	t.Setenv(fpnode.PathEnv, n.NodeFile) // for the plugin that fastpathctl gc runs
	conf := n.List("1.1.0", n.Plugin("10.98.0.0/24", map[string]any{"mode": "vhostuser", "vhostuser": map[string]any{
		"backend": "ovs", "bridge": bridge, "vlan": 100,
	}}))
	keep, gone := cnitest.Pod(t), cnitest.Pod(t)
	res, err := n.Add(conf, rt(keep, "keep"))
	cnitest.Must(t, err)
	_, err = n.Add(conf, rt(gone, "gone"))
	cnitest.Must(t, err)
	portOf := func(id string) string {
		out, err := o.Vsctl("--no-wait", "--bare", "--columns=name", "find", "Port", "external_ids:fastpath.container-id="+id)
		cnitest.Must(t, err)
		return strings.TrimSpace(out)
	}
	keepPort, gonePort := portOf("keep"), portOf("gone")
	// No app on the socket yet: ovs-vswitchd reports the link down.
	cnitest.Must(t, o.WaitLinkState(keepPort, "down", 30*time.Second))

	flags := []string{"--state-dir", n.StateDir, "--sysfs-root", t.TempDir(), "--cni-bin-dir", binDir,
		"--ovsdb", "unix:" + o.DBSock, "--pods-dir", pods}
	var l listJSON
	ctlJSON(t, 0, &l, append([]string{"list"}, flags...)...)
	if len(l.PFs) != 0 || len(l.VhostUser) != 2 {
		t.Fatalf("list = %+v", l)
	}
	for _, v := range l.VhostUser {
		if v.ContainerID != "keep" {
			continue
		}
		if v.Port != keepPort || v.Bridge != bridge || v.Socket != res.Interfaces[0].SocketPath ||
			v.PodDir != filepath.Join(pods, "uid-keep") || v.Role != "server" || v.PortState != "present" ||
			v.LinkState != "down" || v.Status != "attached" || v.Pod != "nfv/pod-keep" || v.NetNS != keep.Path() {
			t.Errorf("list: vhost-user attachment of keep: %+v (port %s)", v, keepPort)
		}
	}
	out, _, code := ctl(t, append([]string{"list"}, flags...)...)
	t.Logf("fastpathctl list:\n%s", out)
	if code != 0 || !strings.Contains(out, keepPort+"  "+bridge) || !strings.Contains(out, "nfv/pod-gone") {
		t.Errorf("list table (exit %d):\n%s", code, out)
	}
	var s struct {
		Kind        string
		Attachments []struct{ Vhost *vhostJSON }
	}
	ctlJSON(t, 0, &s, append([]string{"show", "keep"}, flags...)...)
	if s.Kind != "container" || len(s.Attachments) != 1 || s.Attachments[0].Vhost == nil || s.Attachments[0].Vhost.Port != keepPort {
		t.Errorf("show keep = %+v", s)
	}

	// An orphan port: fastpath's external_ids, no record. And pod "gone"
	// goes.
	_, err = o.Vsctl("--no-wait", "add-port", bridge, "vhuorphan", "--", "set", "Interface", "vhuorphan",
		"type=dpdkvhostuserclient", "options:vhost-server-path=/tmp/nowhere.sock",
		"--", "set", "Port", "vhuorphan", "external_ids:fastpath.network=fpnet",
		"external_ids:fastpath.container-id=ghost", "external_ids:fastpath.ifname=net1")
	cnitest.Must(t, err)
	cnitest.Must(t, unmount(gone))
	ports := func() string {
		out, err := o.Vsctl("--no-wait", "list-ports", bridge)
		cnitest.Must(t, err)
		return strings.Join(strings.Fields(out), " ")
	}

	before := ports() + "\n" + tree(t, n.StateDir, n.IPAMDir, pods)
	var g gcJSON
	ctlJSON(t, 0, &g, append([]string{"gc", "--dry-run"}, flags...)...)
	if f := g.find("orphan-port", "vhuorphan"); f == nil || f.Result != "dry-run" || f.Key != "fpnet/ghost:net1" {
		t.Errorf("gc --dry-run: orphan port: %+v", g)
	}
	if f := g.find("stale-netns", "fpnet/gone:net1"); f == nil || f.Result != "dry-run" || f.Device != gonePort {
		t.Errorf("gc --dry-run: gone pod: %+v", g)
	}
	if len(g.Findings) != 2 {
		t.Errorf("gc --dry-run findings: %+v", g.Findings)
	}
	if after := ports() + "\n" + tree(t, n.StateDir, n.IPAMDir, pods); after != before {
		t.Errorf("gc --dry-run changed something:\n--- before\n%s\n--- after\n%s", before, after)
	}

	g = gcJSON{}
	ctlJSON(t, 0, &g, append([]string{"gc"}, flags...)...)
	if f := g.find("orphan-port", "vhuorphan"); f == nil || f.Result != "done" {
		t.Errorf("gc: orphan port: %+v", g)
	}
	if f := g.find("stale-netns", "fpnet/gone:net1"); f == nil || f.Result != "done" {
		t.Errorf("gc: gone pod: %+v", g)
	}
	if got := ports(); got != keepPort {
		t.Errorf("ports after gc: %q, want only %s", got, keepPort)
	}
	if _, err := os.Stat(filepath.Join(pods, "uid-gone")); !os.IsNotExist(err) {
		t.Errorf("gc left the gone pod's directory: %v", err)
	}
	if got := n.Leases(); len(got) != 1 {
		t.Errorf("leases after gc: %v, want keep's only", got)
	}
	cnitest.Must(t, n.Check(conf, rt(keep, "keep")))
	cnitest.Must(t, n.Del(conf, rt(keep, "keep")))
	n.Released(t)
}
