// Package vhostuser runs fastpath's vhost-user mode against the real thing
// on this machine: ovsdb-server and the DPDK build of ovs-vswitchd
// (test/ovsenv), host-local IPAM, libcni, and dpdk-testpmd playing each
// pod's app on the socket fastpath handed over.
package vhostuser

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/pkg/handover"
	"github.com/fastpath-cni/fastpath/test/cnitest"
	"github.com/fastpath-cni/fastpath/test/ovsenv"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fastpath-bin-")
	if err == nil {
		err = cnitest.Build(dir, cnitest.Plugins...)
	}
	if err == nil {
		err = cnitest.BuildCrash(dir)
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

const bridge = "br-fp"

// world is OVS with one netdev bridge, a pods directory (made beforehand, as
// the DaemonSet does) and a network.
type world struct {
	*cnitest.Net
	t    *testing.T
	ovs  *ovsenv.OVS
	pods string
}

func newWorld(t *testing.T) *world {
	o := ovsenv.Start(t)
	o.AddBridge(bridge)
	w := &world{Net: cnitest.NewNet(t, binDir), t: t, ovs: o}
	// Short: the sockets live below it (108-byte limit).
	pods, err := os.MkdirTemp("", "fp-pods-")
	cnitest.Must(t, err)
	t.Cleanup(func() { os.RemoveAll(pods) })
	w.pods = pods
	return w
}

// setNode gives the network's node file this world's OVS, pods directory
// and the bridges its networks may name: its own, and one that STATUS is to
// find missing.
func (w *world) setNode() {
	w.SetNode("vhostuser", map[string]any{"ovsdb": "unix:" + w.ovs.DBSock, "podsDir": w.pods, "bridges": []string{bridge, "br-missing"}})
}

// conf is the network with the given vhostuser fields merged in.
func (w *world) conf(vu map[string]any) *libcni.NetworkConfigList {
	w.setNode()
	base := map[string]any{"backend": "ovs", "bridge": bridge}
	for k, v := range vu {
		base[k] = v
	}
	return w.List("1.1.0", w.Plugin("10.99.0.0/24", map[string]any{"mode": "vhostuser", "vhostuser": base}))
}

func rt(p interface{ Path() string }, id string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: p.Path(), IfName: "net1",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_UID", "uid-" + id}, {"K8S_POD_NAME", id}, {"K8S_POD_NAMESPACE", "nfv"}}}
}

// appInfo reads the JSON fastpath left for the pod's app.
func (w *world) appInfo(id string) handover.AppInfo {
	var a handover.AppInfo
	b, err := os.ReadFile(filepath.Join(w.pods, "uid-"+id, "net1.json"))
	cnitest.Must(w.t, err)
	cnitest.Must(w.t, json.Unmarshal(b, &a))
	return a
}

// snapshot is what the test compares before ADD and after DEL: the bridge's
// ports and the pods directory's content.
func (w *world) snapshot() string {
	ports, err := w.ovs.Vsctl("--no-wait", "list-ports", bridge)
	cnitest.Must(w.t, err)
	var files []string
	filepath.WalkDir(w.pods, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			files = append(files, strings.TrimPrefix(p, w.pods))
		}
		return nil
	})
	return "ports: " + ports + "files: " + strings.Join(files, " ")
}

// Two pods on VLAN 100 exchange packets through OVS-DPDK over the sockets
// fastpath handed them; a pod on VLAN 200 gets none. DEL leaves OVS and the
// host directories as they were.
func TestTrafficAndIsolation(t *testing.T) {
	w := newWorld(t)
	before := w.snapshot()
	ids := []string{"pod-a", "pod-b", "pod-c"}
	confs := []*libcni.NetworkConfigList{w.conf(map[string]any{"vlan": 100}), w.conf(map[string]any{"vlan": 100}), w.conf(map[string]any{"vlan": 200})}
	socks := make([]string, 3)
	ports := make([]string, 3)
	for i, id := range ids {
		p := cnitest.Pod(t)
		res, err := w.Add(confs[i], rt(p, id))
		cnitest.Must(t, err)
		socks[i] = res.Interfaces[0].SocketPath
		if want := filepath.Join(w.pods, "uid-"+id, "net1.sock"); socks[i] != want {
			t.Errorf("%s socketPath %q, want %q", id, socks[i], want)
		}
		out, err := w.ovs.Vsctl("--no-wait", "--bare", "--columns=name", "find", "Port", "external_ids:fastpath.container-id="+id)
		cnitest.Must(t, err)
		ports[i] = strings.TrimSpace(out)
		tag, _ := w.ovs.Vsctl("--no-wait", "get", "Port", ports[i], "tag")
		typ, _ := w.ovs.Vsctl("--no-wait", "get", "Interface", ports[i], "type")
		path, _ := w.ovs.Vsctl("--no-wait", "get", "Interface", ports[i], "options:vhost-server-path")
		pod, _ := w.ovs.Vsctl("--no-wait", "get", "Port", ports[i], "external_ids:fastpath.pod")
		if strings.TrimSpace(tag) != fmt.Sprint([]int{100, 100, 200}[i]) || strings.TrimSpace(typ) != "dpdkvhostuserclient" ||
			strings.Trim(strings.TrimSpace(path), `"`) != socks[i] || strings.Trim(strings.TrimSpace(pod), `"`) != "nfv/"+id {
			t.Errorf("%s port %s: tag %s type %s path %s pod %s", id, ports[i], tag, typ, path, pod)
		}
		cnitest.Must(t, w.Check(confs[i], rt(p, id)))
		defer func() { cnitest.Must(t, w.Del(confs[i], rt(p, id))) }()
	}

	// Each pod's app: a testpmd on its socket, in server mode (the app makes
	// the socket, OVS connects), with the MAC fastpath chose for it.
	a, b := w.appInfo("pod-a"), w.appInfo("pod-b")
	rxB := ovsenv.StartTestpmd(t, socks[1], true, ovsenv.MAC(b.MAC), ovsenv.ForwardMode("macswap"))
	rxC := ovsenv.StartTestpmd(t, socks[2], true, ovsenv.MAC(w.appInfo("pod-c").MAC), ovsenv.RxOnly())
	txA := ovsenv.StartTestpmd(t, socks[0], true, ovsenv.MAC(a.MAC), ovsenv.TxOnly(b.MAC))
	for i, p := range []*ovsenv.Testpmd{txA, rxB, rxC} {
		cnitest.Must(t, p.WaitReady(30*time.Second))
		cnitest.Must(t, w.ovs.WaitLinkState(ports[i], "up", 30*time.Second))
	}
	// A sends to B; B swaps the MACs and sends every packet back to A.
	_, err := rxB.WaitRX(1000, 30*time.Second)
	cnitest.Must(t, err)
	_, err = rxB.WaitTX(1000, 30*time.Second)
	cnitest.Must(t, err)
	for _, port := range ports[:2] {
		for _, key := range []string{"rx_packets", "tx_packets"} {
			if _, err := w.ovs.WaitPortStat(port, key, 1, 30*time.Second); err != nil {
				t.Errorf("OVS port %s: no %s: %v", port, key, err)
			}
		}
	}
	stopC, err := rxC.Stop()
	cnitest.Must(t, err)
	if stopC.RXPackets != 0 {
		t.Errorf("the VLAN 200 pod received %d packets", stopC.RXPackets)
	}
	if st := w.ovs.PortStats(ports[2]); st["tx_packets"] != 0 {
		t.Errorf("OVS sent %d packets to the VLAN 200 port", st["tx_packets"])
	}
	for _, p := range []*ovsenv.Testpmd{txA, rxB} {
		_, err := p.Stop()
		cnitest.Must(t, err)
	}
	t.Cleanup(func() {
		if after := w.snapshot(); after != before {
			t.Errorf("after DEL:\n%s\nbefore ADD:\n%s", after, before)
		}
		w.Released(t)
	})
}

// CHECK notices a port changed behind fastpath's back; STATUS reports a
// missing bridge; GC deletes released attachments' and orphaned ports.
func TestCheckStatusGC(t *testing.T) {
	w := newWorld(t)
	before := w.snapshot()
	l := w.conf(map[string]any{"vlan": 300})
	p1, p2 := cnitest.Pod(t), cnitest.Pod(t)
	_, err := w.Add(l, rt(p1, "keep"))
	cnitest.Must(t, err)
	_, err = w.Add(l, rt(p2, "gone"))
	cnitest.Must(t, err)
	out, err := w.ovs.Vsctl("--no-wait", "--bare", "--columns=name", "find", "Port", "external_ids:fastpath.container-id=keep")
	cnitest.Must(t, err)
	port := strings.TrimSpace(out)

	cnitest.Must(t, w.Check(l, rt(p1, "keep")))
	_, err = w.ovs.Vsctl("--no-wait", "set", "Port", port, "tag=301")
	cnitest.Must(t, err)
	if err := w.Check(l, rt(p1, "keep")); err == nil || !strings.Contains(err.Error(), "tag 301, want 300") {
		t.Errorf("CHECK after the tag changed = %v", err)
	}
	_, err = w.ovs.Vsctl("--no-wait", "set", "Port", port, "tag=300")
	cnitest.Must(t, err)
	cnitest.Must(t, w.Check(l, rt(p1, "keep")))

	cnitest.Must(t, w.CNI.GetStatusNetworkList(t.Context(), l))
	err = w.CNI.GetStatusNetworkList(t.Context(), w.conf(map[string]any{"bridge": "br-missing"}))
	if cnitest.Code(err) != types.ErrPluginNotAvailable || !strings.Contains(err.Error(), "br-missing") {
		t.Errorf("STATUS with no bridge = %v", err)
	}

	// An orphan: a port of this network that no record accounts for.
	_, err = w.ovs.Vsctl("--no-wait", "add-port", bridge, "vhuorphan", "--", "set", "Interface", "vhuorphan",
		"type=dpdkvhostuserclient", "options:vhost-server-path=/tmp/nowhere.sock",
		"--", "set", "Port", "vhuorphan", "external_ids:fastpath.network=fpnet",
		"external_ids:fastpath.container-id=ghost", "external_ids:fastpath.ifname=net1")
	cnitest.Must(t, err)
	cnitest.Must(t, w.CNI.GCNetworkList(t.Context(), l, &libcni.GCArgs{
		ValidAttachments: []types.GCAttachment{{ContainerID: "keep", IfName: "net1"}},
	}))
	left, err := w.ovs.Vsctl("--no-wait", "list-ports", bridge)
	cnitest.Must(t, err)
	if strings.TrimSpace(left) != port {
		t.Errorf("ports after GC: %q, want only %s", left, port)
	}
	if _, err := os.Stat(filepath.Join(w.pods, "uid-gone")); !os.IsNotExist(err) {
		t.Errorf("GC left the released pod's directory: %v", err)
	}
	cnitest.Must(t, w.Del(l, rt(p1, "keep")))
	if after := w.snapshot(); after != before {
		t.Errorf("after DEL:\n%s\nbefore ADD:\n%s", after, before)
	}
	w.Released(t)
}

// With the app as vhost-user client, OVS makes the socket and fastpath links
// it into the pod's directory; a testpmd in client mode connects through it.
func TestClientRole(t *testing.T) {
	w := newWorld(t)
	before := w.snapshot()
	l := w.conf(map[string]any{"socketRole": "client", "mtu": 2000})
	p := cnitest.Pod(t)
	res, err := w.Add(l, rt(p, "cli"))
	cnitest.Must(t, err)
	sock := res.Interfaces[0].SocketPath
	if st, err := os.Stat(sock); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no socket at %s: %v", sock, err)
	}
	if a := w.appInfo("cli"); a.Role != "client" || a.MTU != 2000 {
		t.Errorf("app info %+v", a)
	}
	out, err := w.ovs.Vsctl("--no-wait", "--bare", "--columns=name", "find", "Port", "external_ids:fastpath.container-id=cli")
	cnitest.Must(t, err)
	port := strings.TrimSpace(out)
	mtu, _ := w.ovs.Vsctl("--no-wait", "get", "Interface", port, "mtu_request")
	if strings.TrimSpace(mtu) != "2000" {
		t.Errorf("mtu_request %q", mtu)
	}
	app := ovsenv.StartTestpmd(t, sock, false, ovsenv.RxOnly())
	cnitest.Must(t, app.WaitReady(30*time.Second))
	cnitest.Must(t, w.ovs.WaitLinkState(port, "up", 30*time.Second))
	cnitest.Must(t, w.Check(l, rt(p, "cli")))
	_, err = app.Stop()
	cnitest.Must(t, err)
	cnitest.Must(t, w.Del(l, rt(p, "cli")))
	if after := w.snapshot(); after != before {
		t.Errorf("after DEL:\n%s\nbefore ADD:\n%s", after, before)
	}
	w.Released(t)
}
