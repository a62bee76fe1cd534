package integration

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/pkg/handover"
	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// vhostConf is a vhost-user network; extra is merged into "vhostuser". The
// node puts the pods' directories in Dir/pods and lets the provisioned
// backend take sockets from Dir/switch.
func vhostConf(n *cnitest.Net, extra map[string]any, plugin map[string]any) *libcni.NetworkConfigList {
	n.SetNode("vhostuser", map[string]any{"podsDir": filepath.Join(n.Dir, "pods"), "provisionedDirs": []string{filepath.Join(n.Dir, "switch")}})
	vu := map[string]any{}
	for k, v := range extra {
		vu[k] = v
	}
	p := n.Plugin("10.88.0.0/24", map[string]any{"mode": "vhostuser", "vhostuser": vu})
	for k, v := range plugin {
		p[k] = v
	}
	return n.List("1.1.0", p)
}

// listen makes a unix socket that stands for one another switch made.
func listen(t *testing.T, path string) net.Listener {
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	l, err := net.Listen("unix", path)
	must(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	return l
}

// A socket another switch provisioned is handed to the pod in its
// directory, with the app's JSON and a device-info file; DEL takes back
// what fastpath made and leaves the socket, which is not fastpath's.
func TestVhostProvisioned(t *testing.T) {
	n := newNet(t)
	src := filepath.Join(n.Dir, "switch", "vhost0.sock")
	listen(t, src)
	info := filepath.Join(n.Dir, "devinfo", "net1.json")
	l := vhostConf(n, map[string]any{"backend": "provisioned", "vlan": 30, "mtu": 9000, "queues": 2, "group": 4321},
		map[string]any{"deviceID": src, "mac": "02:00:00:88:00:01", "runtimeConfig": map[string]any{"CNIDeviceInfoFile": info}})
	pod := cnitest.Pod(t)
	r := &libcni.RuntimeConf{ContainerID: "c1", NetNS: pod.Path(), IfName: "net1",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_UID", "uid-1"}}}
	res, err := n.Add(l, r)
	must(t, err)
	podDir := filepath.Join(n.Dir, "pods", "uid-1")
	sock := filepath.Join(podDir, "net1.sock")
	if i := res.Interfaces[0]; i.SocketPath != sock || i.Mac != "02:00:00:88:00:01" || i.Mtu != 9000 || i.Sandbox != pod.Path() {
		t.Errorf("interface = %+v", i)
	}
	c, err := net.Dial("unix", sock)
	must(t, err)
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Errorf("the handed-over socket does not reach the switch: %q %v", buf, err)
	}
	c.Close()

	var app handover.AppInfo
	b, err := os.ReadFile(filepath.Join(podDir, "net1.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &app))
	if app.Socket != "net1.sock" || app.Role != "server" || app.MAC != "02:00:00:88:00:01" || app.MTU != 9000 ||
		app.VLAN != 30 || app.Queues != 2 || len(app.IPs) != 1 || app.IPs[0] != "10.88.0.2/24" || len(app.Gateways) != 1 {
		t.Errorf("app info = %+v", app)
	}
	for path, want := range map[string]os.FileMode{podDir: 0o750, filepath.Join(podDir, "net1.json"): 0o640} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != want || st.Sys().(*syscall.Stat_t).Gid != 4321 {
			t.Errorf("%s mode %v group %d (%v), want %v group 4321", path, st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid, err, want)
		}
	}
	di, err := devinfo.Read(info)
	must(t, err)
	if di.Type != "vhost-user" || di.VhostUser.Mode != "server" || di.VhostUser.Path != sock {
		t.Errorf("device info = %+v %+v", di, di.VhostUser)
	}
	must(t, n.Check(l, r))
	must(t, os.Remove(filepath.Join(podDir, "net1.json")))
	if err := n.Check(l, r); err == nil || !strings.Contains(err.Error(), "net1.json") {
		t.Errorf("CHECK without the app file = %v", err)
	}

	must(t, n.Del(l, r))
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Errorf("pod directory left: %v", err)
	}
	if _, err := os.Stat(info); !os.IsNotExist(err) {
		t.Errorf("device info left: %v", err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("DEL removed the provisioned socket, which is not fastpath's: %v", err)
	}
	n.Released(t)
	must(t, n.Del(l, r))
}

// The device plugin's device-info file can name the socket and its role.
func TestVhostProvisionedByDeviceInfo(t *testing.T) {
	n := newNet(t)
	src := filepath.Join(n.Dir, "switch", "vhost1.sock")
	listen(t, src)
	dpInfo := filepath.Join(n.Dir, "dp", "vhost-pool-dev1-device.json")
	must(t, devinfo.Write(dpInfo, devinfo.ForVhostUser("client", src)))
	l := vhostConf(n, map[string]any{"backend": "provisioned"}, map[string]any{"deviceID": dpInfo})
	pod := cnitest.Pod(t)
	r := cnitest.RT(pod, "c2", "net1")
	_, err := n.Add(l, r)
	must(t, err)
	var app handover.AppInfo
	b, err := os.ReadFile(filepath.Join(n.Dir, "pods", "c2", "net1.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &app))
	if app.Role != "client" {
		t.Errorf("role = %q, want the device-info file's client", app.Role)
	}
	must(t, n.Del(l, r))
	n.Released(t)
}

// A network config reaches no socket outside the node's provisioned
// directories: not by naming it, not through a link planted in such a
// directory, not through a device-info file that names it. Each is code 7,
// and the pod gets nothing.
func TestVhostProvisionedOutside(t *testing.T) {
	n := newNet(t)
	daemon := filepath.Join(t.TempDir(), "daemon.sock") // some root daemon's socket
	listen(t, daemon)
	must(t, os.MkdirAll(filepath.Join(n.Dir, "switch"), 0o755))
	link := filepath.Join(n.Dir, "switch", "planted.sock")
	must(t, os.Symlink(daemon, link))
	info := filepath.Join(n.Dir, "dp", "evil-device.json")
	must(t, devinfo.Write(info, devinfo.ForVhostUser("client", daemon)))
	pod := cnitest.Pod(t)
	for _, dev := range []string{daemon, link, info} {
		l := vhostConf(n, map[string]any{"backend": "provisioned"}, map[string]any{"deviceID": dev})
		_, err := n.Add(l, cnitest.RT(pod, "c3", "net1"))
		if cniCode(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), daemon) {
			t.Errorf("ADD of %s = %v, want code 7 naming %s", dev, err, daemon)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(n.Dir, "pods")); len(ents) != 0 {
		t.Errorf("pod directories left: %v", ents)
	}
	n.Released(t)
}

// Bad vhost-user config is code 7 naming the field, and nothing is made.
func TestVhostBadConfig(t *testing.T) {
	n := newNet(t)
	pod := cnitest.Pod(t)
	for _, tc := range []struct {
		vu   map[string]any
		want string
	}{
		{map[string]any{"backend": "vpp"}, `vhostuser.backend "vpp"`},
		{map[string]any{"bridge": "br 0"}, `vhostuser.bridge "br 0"`},
		{map[string]any{"bridge": "br0", "socketRole": "both"}, `vhostuser.socketRole "both"`},
		{map[string]any{"bridge": "br0", "vlan": 4095}, `vhostuser.vlan "4095"`},
		{map[string]any{"bridge": "br0", "queues": 0}, `vhostuser.queues "0"`},
		{map[string]any{"bridge": "br0", "dirMode": "rwx"}, `vhostuser.dirMode "rwx"`},
		{map[string]any{"bridge": "br0", "podsDir": "/run/fastpath/pods"}, `vhostuser.podsDir "/run/fastpath/pods"`},
		{map[string]any{"bridge": "br0", "ovsSocketDir": "/etc"}, `vhostuser.ovsSocketDir "/etc"`},
		{map[string]any{"backend": "provisioned", "top-level": map[string]any{"deviceID": "/run/containerd/containerd.sock"}}, `deviceID "/run/containerd/containerd.sock"`},
		{map[string]any{"backend": "provisioned"}, `deviceID ""`},
		{map[string]any{"bridge": "br0", "ovsdb": "/var/run/openvswitch/db.sock"}, `vhostuser.ovsdb "/var/run/openvswitch/db.sock"`},
		{map[string]any{"bridge": "br0", "top-level": map[string]any{"vlan": 100}}, `invalid vlan "set"`},
	} {
		top := tc.vu["top-level"]
		delete(tc.vu, "top-level")
		plugin, _ := top.(map[string]any)
		_, err := n.Add(vhostConf(n, tc.vu, plugin), cnitest.RT(pod, "c1", "net1"))
		if cniCode(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ADD with %v = %v, want code 7 naming %s", tc.vu, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "pods")); !os.IsNotExist(err) {
		t.Errorf("pods directory made: %v", err)
	}
	n.Released(t)
}

// CHECK and STATUS validate the vhostuser object as ADD does: a VF setting
// in a vhost-user network, or a value out of range, is error 7 naming the
// field, and STATUS of a valid provisioned network answers ready.
func TestVhostCheckStatusValidate(t *testing.T) {
	n := cnitest.NewNet(t, binDir)
	src := filepath.Join(n.Dir, "switch", "vhost0.sock")
	listen(t, src)
	good := vhostConf(n, map[string]any{"backend": "provisioned"}, map[string]any{"deviceID": src})
	pod := cnitest.Pod(t)
	r := &libcni.RuntimeConf{ContainerID: "c1", NetNS: pod.Path(), IfName: "net1",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_UID", "uid-1"}}}
	_, err := n.Add(good, r)
	must(t, err)
	t.Cleanup(func() { must(t, n.Del(good, r)) })
	must(t, n.Check(good, r))
	must(t, n.CNI.GetStatusNetworkList(t.Context(), good))

	for _, bad := range []struct {
		field      string
		vu, plugin map[string]any
	}{
		{"vlan", map[string]any{"backend": "provisioned"}, map[string]any{"deviceID": src, "vlan": 5}},
		{"vhostuser.queues", map[string]any{"backend": "provisioned", "queues": 0}, map[string]any{"deviceID": src}},
		{"vhostuser.dirMode", map[string]any{"backend": "provisioned", "dirMode": "888"}, map[string]any{"deviceID": src}},
	} {
		l := vhostConf(n, bad.vu, bad.plugin)
		want := "invalid " + bad.field + " "
		if err := n.Check(l, r); cnitest.Code(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), want) {
			t.Errorf("CHECK with a bad %s = %v, want code 7 naming it", bad.field, err)
		}
		if err := n.CNI.GetStatusNetworkList(t.Context(), l); cnitest.Code(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), want) {
			t.Errorf("STATUS with a bad %s = %v, want code 7 naming it", bad.field, err)
		}
	}
}
