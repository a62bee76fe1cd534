package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/node"
)

// Seeds: configs as sriov-cni's and fastpath's documentation write them, as
// Multus hands them over (runtimeConfig), vhost-user ones for each backend
// and role, and a few that must be refused.
var fzConfigs = []string{
	// sriov-cni's README, unchanged but for the type.
	`{"cniVersion":"0.3.1","name":"sriov-dpdk","type":"fastpath","vlan":1000}`,
	`{"cniVersion":"0.3.1","name":"sriov-network","type":"fastpath","vlan":1000,"vlanQoS":4,"ipam":{"type":"host-local","subnet":"10.55.206.0/26","routes":[{"dst":"0.0.0.0/0"}],"gateway":"10.55.206.1"}}`,
	`{"cniVersion":"0.3.1","name":"sriov-advanced","type":"fastpath","vlan":1000,"vlanQoS":4,"vlanProto":"802.1ad","spoofchk":"off","trust":"on","link_state":"enable","min_tx_rate":100,"max_tx_rate":200,"ipam":{"type":"host-local","subnet":"10.56.217.0/24"}}`,
	// fastpath's README.
	`{"cniVersion":"1.0.0","name":"sriov-vlan100","type":"fastpath","deviceID":"0000:01:10.0","vlan":100,"vlanQoS":2,"vlanProto":"802.1q","mac":"02:00:00:00:0a:01","spoofchk":"on","trust":"off","link_state":"auto","min_tx_rate":0,"max_tx_rate":1000,"mtu":9000,"logLevel":"info","logFile":"/var/log/fastpath.log","ipam":{"type":"host-local","subnet":"10.100.0.0/24"}}`,
	// Multus with the SR-IOV device plugin: deviceID and mac in runtimeConfig.
	`{"cniVersion":"1.0.0","name":"sriov-net-a","type":"fastpath","vlan":210,"runtimeConfig":{"deviceID":"0000:3B:02.4","mac":"CA:FE:C0:FF:EE:01","CNIDeviceInfoFile":"/var/run/k8s.cni.cncf.io/devinfo/cni/abc-net1.json"},"ipam":{"type":"static"}}`,
	`{"cniVersion":"1.1.0","name":"vfio","type":"fastpath","pciBusID":"0000:af:06.0","spoofchk":"off","trust":"on","stateDir":"/run/fastpath","sysfsRoot":"/sys","logLevel":"DEBUG"}`,
	// Chained, with a prevResult.
	`{"cniVersion":"1.0.0","name":"chain","type":"fastpath","deviceID":"0000:01:10.2","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/p"}],"ips":[{"address":"10.1.0.2/24","gateway":"10.1.0.1","interface":0}],"routes":[{"dst":"0.0.0.0/0"}]}}`,
	`{"cniVersion":"0.4.0","name":"old","type":"fastpath","deviceID":"0000:01:10.2","prevResult":{"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],"ips":[{"version":"4","address":"10.1.0.2/24","interface":0}]}}`,
	// vhost-user: OVS, server and client roles; provisioned sockets.
	`{"cniVersion":"1.1.0","name":"dpdk-net","type":"fastpath","mode":"vhostuser","vhostuser":{"backend":"ovs","bridge":"br-dpdk","ovsdb":"unix:/var/run/openvswitch/db.sock","socketRole":"server","vlan":100,"mtu":9000,"queues":2,"podsDir":"/var/run/fastpath/pods","dirMode":"0750","fileMode":"0640","group":1000},"ipam":{"type":"host-local","subnet":"10.99.0.0/24"}}`,
	`{"cniVersion":"1.1.0","name":"dpdk-client","type":"fastpath","mode":"vhostuser","vhostuser":{"bridge":"br0","socketRole":"client","ovsSocketDir":"/var/run/openvswitch"}}`,
	`{"cniVersion":"1.1.0","name":"dpdk-tcp","type":"fastpath","mode":"vhostuser","vhostuser":{"bridge":"br0","ovsdb":"tcp:127.0.0.1:6640","socketRole":"client"}}`,
	`{"cniVersion":"1.1.0","name":"prov","type":"fastpath","mode":"vhostuser","deviceID":"/var/run/vhost/vhost0.sock","vhostuser":{"backend":"provisioned","mtu":1500,"queues":4}}`,
	`{"cniVersion":"1.1.0","name":"prov-info","type":"fastpath","mode":"vhostuser","vhostuser":{"backend":"provisioned"},"runtimeConfig":{"CNIDeviceInfoFile":"/var/run/k8s.cni.cncf.io/devinfo/dp/x.json"}}`,
	`{"cniVersion":"1.1.0","name":"long","type":"fastpath","mode":"vhostuser","vhostuser":{"bridge":"br0","podsDir":"/var/run/fastpath/a/very/long/directory/that/leaves/little/room/for/the/socket/name/x"}}`,
	// Refused ones.
	`{"cniVersion":"1.0.0","name":"bad","type":"fastpath","vlan":4095,"vlanQoS":8,"mtu":67,"mac":"01:00:5e:00:00:01"}`,
	`{"cniVersion":"1.0.0","name":"bad","type":"fastpath","deviceID":"../../etc","runtimeConfig":{"CNIDeviceInfoFile":"relative/x.json"}}`,
	`{"cniVersion":"1.0.0","name":"bad","type":"fastpath","min_tx_rate":300,"max_tx_rate":200,"link_state":"up"}`,
	`{"cniVersion":"1.1.0","name":"bad","type":"fastpath","mode":"vhostuser","vhostuser":{"bridge":"../br","podsDir":"/pods/../x","dirMode":"1777","queues":0}}`,
	`{"cniVersion":"1.0.0","name":"bad","type":"fastpath","logLevel":"trace"}`,
	// Node settings named by a network config (package node).
	`{"cniVersion":"1.0.0","name":"evil","type":"fastpath","deviceID":"0000:01:00.0","sysfsRoot":"/var/lib/kubelet/pods/x/volumes/kubernetes.io~empty-dir/sys"}`,
	`{"cniVersion":"1.0.0","name":"evil","type":"fastpath","logFile":"/etc/cron.d/x","stateDir":"/tmp/s"}`,
	`{"cniVersion":"1.0.0","name":"evil","type":"fastpath","logFile":"../x"}`,
	`{"cniVersion":"1.1.0","name":"evil","type":"fastpath","mode":"vhostuser","deviceID":"/run/containerd/containerd.sock","vhostuser":{"backend":"provisioned"}}`,
	`{"cniVersion":"1.1.0","name":"evil","type":"fastpath","mode":"vhostuser","vhostuser":{"bridge":"br-int","ovsdb":"tcp:10.0.0.1:6640","ovsSocketDir":"/etc","podsDir":"/etc","group":0}}`,
	`{"cniVersion":"1.1.0","name":"evil","type":"fastpath","deviceID":"0000:01:10.0","runtimeConfig":{"CNIDeviceInfoFile":"/etc/sudoers.d/x"}}`,
	`{"cniVersion":"1.0.0","name":"n","type":"fastpath","prevResult":{"cniVersion":"9.9.9"}}`,
	`{"cniVersion":"1.0.0",`,
	``,
}

// CNI_ARGS as containerd, CRI-O and Multus set them.
var fzArgs = []string{
	"",
	"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx-7c5b8d;K8S_POD_INFRA_CONTAINER_ID=8a1f3c0e9b2d4f6a8c1e3b5d7f9a0c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a;K8S_POD_UID=6f1c2a4e-3b5d-4c7e-9f8a-0b1c2d3e4f5a",
	"K8S_POD_NAMESPACE=nfv;K8S_POD_NAME=dpdk-app-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=uid-crash",
	"IgnoreUnknown=true;MAC=02:00:00:00:0a:02;K8S_POD_UID=0d0e0a0d-0000-4000-8000-000000000001",
	"MAC=ff:ff:ff:ff:ff:ff",
	"K8S_POD_UID=../../etc",
	"MAC",
}

// FuzzParseResolve drives hostile configs, CNI_ARGS, pod UIDs and interface
// names through Parse, ParseArgs, Resolve and ResolveVhost as ADD does:
// every refusal is a CNI error 6 or 7 (4 for CNI_ARGS), and whatever is
// accepted is in the ranges the kernel and OVS take, with the vhost-user
// files inside the pod's own directory.
func FuzzParseResolve(f *testing.F) {
	uids := []string{"6f1c2a4e-3b5d-4c7e-9f8a-0b1c2d3e4f5a", "uid-crash", "8a1f3c0e9b2d4f6a8c1e3b5d7f9a0c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a", "..", "a/b", ""}
	ifnames := []string{"net1", "eth0", "dpdk0", "../x", "a/b", ""}
	for i, c := range fzConfigs {
		f.Add([]byte(c), fzArgs[i%len(fzArgs)], uids[i%len(uids)], ifnames[i%len(ifnames)])
	}
	f.Fuzz(func(t *testing.T, stdin []byte, cniArgs, podUID, ifname string) {
		conf, err := config.Parse(stdin)
		if err != nil {
			fzWantCode(t, "Parse", err, types.ErrDecodingFailure, types.ErrInvalidNetworkConfig)
			if conf != nil {
				t.Errorf("Parse returned a config with its error %v", err)
			}
			return
		}
		n := fzNodes[len(stdin)%len(fzNodes)]
		err = conf.BindNode(n)
		fzCheckBound(t, conf, n)
		if err != nil {
			fzWantCode(t, "BindNode", err, types.ErrInvalidNetworkConfig)
			return
		}
		args, err := config.ParseArgs(cniArgs)
		if err != nil {
			fzWantCode(t, "ParseArgs", err, types.ErrInvalidEnvironmentVariables)
			args = nil // Resolve must cope without CNI_ARGS too
		}
		before := fzSnapshot(t, conf)
		s, err := conf.Resolve(args)
		if err != nil {
			fzWantCode(t, "Resolve", err, types.ErrInvalidNetworkConfig)
		} else {
			fzCheckSettings(t, conf, args, s)
			if f := s.DeviceInfoFile; f != "" && !fzInside(n.DeviceInfoDir, f) {
				t.Errorf("device-info file %q is outside the node's %q", f, n.DeviceInfoDir)
			}
		}
		v, err := conf.ResolveVhost(podUID, ifname)
		if err != nil {
			fzWantCode(t, "ResolveVhost", err, types.ErrInvalidNetworkConfig)
		} else {
			fzCheckVhost(t, conf, podUID, ifname, v)
		}
		if after := fzSnapshot(t, conf); after != before {
			t.Errorf("Resolve and ResolveVhost changed the config:\n%s\nwas\n%s", after, before)
		}
	})
}

// The PCI address as sysfs names it: lower case, the form Resolve returns.
var fzPCIRe = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$`)

func fzCheckSettings(t *testing.T, c *config.NetConf, args *config.Args, s *config.Settings) {
	t.Helper()
	if c.Mode != "" && c.Mode != attach.ModeVhostUser {
		t.Errorf("mode %q accepted", c.Mode)
	}
	if s.DeviceID != c.Device() {
		t.Errorf("DeviceID %q, want %q", s.DeviceID, c.Device())
	}
	if c.Mode != attach.ModeVhostUser && s.DeviceID != "" && !fzPCIRe.MatchString(s.DeviceID) {
		t.Errorf("DeviceID %q is not a PCI address", s.DeviceID)
	}
	if f := s.DeviceInfoFile; f != c.RuntimeConfig.DeviceInfoFile || (f != "" && (!filepath.IsAbs(f) || filepath.Clean(f) != f)) {
		t.Errorf("DeviceInfoFile %q (config %q): want the config's clean absolute path", f, c.RuntimeConfig.DeviceInfoFile)
	}

	// The MAC: valid, and from the winning source.
	argMAC := ""
	if args != nil {
		argMAC = args.MAC
	}
	want := ""
	for _, m := range []string{c.RuntimeConfig.MAC, argMAC, c.MAC} {
		if m != "" {
			want = m
			break
		}
	}
	switch {
	case want == "" && s.MAC != nil:
		t.Errorf("MAC %s from no source", s.MAC)
	case want != "":
		wm, err := net.ParseMAC(want)
		if err != nil || !bytes.Equal(wm, s.MAC) {
			t.Errorf("MAC %s, want %q (runtimeConfig %q, CNI_ARGS %q, config %q)", s.MAC, want, c.RuntimeConfig.MAC, argMAC, c.MAC)
		}
	}
	if s.MAC != nil && (len(s.MAC) != 6 || s.MAC[0]&1 != 0 || bytes.Equal(s.MAC, make([]byte, 6))) {
		t.Errorf("MAC %s is not a unicast non-zero 6-byte address", s.MAC)
	}

	// VLAN, priority, protocol.
	if (s.Vlan == nil) != (c.Vlan == nil) || (s.Vlan != nil && (*s.Vlan < 0 || *s.Vlan > 4094)) {
		t.Errorf("vlan %v (config %v): want 0-4094, nil only when absent", fzDeref(s.Vlan), fzDeref(c.Vlan))
	}
	vlanSet := s.Vlan != nil && *s.Vlan != 0
	if s.VlanQoS != nil && (*s.VlanQoS < 0 || *s.VlanQoS > 7 || (*s.VlanQoS != 0 && !vlanSet)) {
		t.Errorf("vlanQoS %d with vlan %v", *s.VlanQoS, fzDeref(s.Vlan))
	}
	if s.VlanProto != nil && *s.VlanProto != 0x8100 && (*s.VlanProto != 0x88a8 || !vlanSet) {
		t.Errorf("vlanProto %#x with vlan %v", *s.VlanProto, fzDeref(s.Vlan))
	}

	// On/off settings, link state, rates, MTU.
	for _, b := range []struct {
		name string
		in   string
		out  *bool
	}{{"spoofchk", c.SpoofChk, s.SpoofChk}, {"trust", c.Trust, s.Trust}} {
		if (b.out == nil) != (b.in == "") || (b.out != nil && *b.out != (b.in == "on")) {
			t.Errorf("%s %q resolved to %v", b.name, b.in, fzDeref(b.out))
		}
	}
	if s.LinkState != nil && *s.LinkState > attach.LinkStateDisable {
		t.Errorf("link state %d", *s.LinkState)
	}
	for _, r := range []*uint32{s.MinTxRate, s.MaxTxRate} {
		if r != nil && *r > 1<<31-1 {
			t.Errorf("rate %d more than the kernel's int32", *r)
		}
	}
	if s.MinTxRate != nil && s.MaxTxRate != nil && *s.MaxTxRate != 0 && *s.MinTxRate > *s.MaxTxRate {
		t.Errorf("min_tx_rate %d above max_tx_rate %d", *s.MinTxRate, *s.MaxTxRate)
	}
	if (c.MTU == nil && s.MTU != 0) || (c.MTU != nil && (s.MTU != *c.MTU || s.MTU < 68 || s.MTU > 65535)) {
		t.Errorf("mtu %d (config %v): want 68-65535", s.MTU, fzDeref(c.MTU))
	}
}

// What OVS takes as a bridge name, and pod UIDs that can name a directory.
var (
	fzBridgeRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)
	fzSafeName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
)

func fzCheckVhost(t *testing.T, c *config.NetConf, podUID, ifname string, v *config.Vhost) {
	t.Helper()
	vc := c.VhostUser
	if vc == nil {
		t.Fatal("ResolveVhost succeeded without a vhostuser object")
	}
	switch v.Backend {
	case config.BackendOVS:
		if !fzBridgeRe.MatchString(v.Bridge) || v.Provisioned != "" {
			t.Errorf("ovs backend with bridge %q, provisioned %q", v.Bridge, v.Provisioned)
		}
	case config.BackendProvisioned:
		p := v.Provisioned
		if (p == "" && c.RuntimeConfig.DeviceInfoFile == "") || (p != "" && (!filepath.IsAbs(p) || filepath.Clean(p) != p)) {
			t.Errorf("provisioned socket %q (device-info file %q): want a clean absolute path", p, c.RuntimeConfig.DeviceInfoFile)
		}
	default:
		t.Errorf("backend %q accepted", v.Backend)
	}
	if v.Role != config.RoleServer && v.Role != config.RoleClient {
		t.Errorf("socket role %q accepted", v.Role)
	}
	if v.Role == config.RoleClient && !filepath.IsAbs(v.OVSSocketDir) {
		t.Errorf("client role with OVS socket directory %q", v.OVSSocketDir)
	}
	if v.Vlan < 0 || v.Vlan > 4094 || (v.MTU != 0 && (v.MTU < 68 || v.MTU > 9710)) || v.Queues < 1 || v.Queues > 128 || v.GID < -1 || v.GID > 4294967294 {
		t.Errorf("vlan %d, mtu %d, queues %d, gid %d out of range", v.Vlan, v.MTU, v.Queues, v.GID)
	}
	if v.DirMode&^0o777 != 0 || v.FileMode&^0o777 != 0 {
		t.Errorf("modes %v, %v carry more than permission bits", v.DirMode, v.FileMode)
	}

	// The node's, never the config's: OVSDB, OVS's socket directory,
	// the bridges, groups and provisioned sockets it allows.
	nv := &c.Node.VhostUser
	if v.OVSDB != nv.OVSDB || v.OVSSocketDir != nv.OVSSocketDir {
		t.Errorf("ovsdb %q, ovsSocketDir %q: want the node's %q, %q", v.OVSDB, v.OVSSocketDir, nv.OVSDB, nv.OVSSocketDir)
	}
	if v.Backend == config.BackendOVS && len(nv.Bridges) > 0 && !slices.Contains(nv.Bridges, v.Bridge) {
		t.Errorf("bridge %q accepted, the node allows %v", v.Bridge, nv.Bridges)
	}
	if v.GID != -1 && len(nv.Groups) > 0 && !slices.Contains(nv.Groups, v.GID) {
		t.Errorf("group %d accepted, the node allows %v", v.GID, nv.Groups)
	}
	if p := v.Provisioned; p != "" && !slices.ContainsFunc(append([]string{c.Node.DeviceInfoDir}, nv.ProvisionedDirs...), func(d string) bool { return fzInside(d, p) }) {
		t.Errorf("provisioned %q is outside the node's %v and %q", p, nv.ProvisionedDirs, c.Node.DeviceInfoDir)
	}
	if v.Backend == config.BackendProvisioned && len(nv.ProvisionedDirs) == 0 {
		t.Errorf("provisioned backend accepted on a node that allows none")
	}

	// The pod's directory: one level below the node's pods base, named by
	// a safe pod UID.
	base := nv.PodsDir
	if !fzSafeName.MatchString(podUID) || podUID == "." || podUID == ".." {
		t.Errorf("pod UID %q accepted", podUID)
	}
	if !fzInside(base, v.PodDir) || filepath.Dir(v.PodDir) != base || filepath.Base(v.PodDir) != podUID {
		t.Errorf("pod directory %q is not %q/%q", v.PodDir, base, podUID)
	}
	// The files: inside that directory. An ifname with '/' never gets
	// here (skel refuses it before any plugin code runs), and one without
	// cannot leave the directory.
	if !strings.Contains(ifname, "/") {
		for _, p := range []string{v.Socket, v.JSON} {
			if !fzInside(v.PodDir, p) || filepath.Dir(p) != v.PodDir {
				t.Errorf("%q is not in the pod directory %q", p, v.PodDir)
			}
		}
		if v.Socket != filepath.Join(v.PodDir, ifname+".sock") || v.JSON != filepath.Join(v.PodDir, ifname+".json") {
			t.Errorf("files %q, %q for ifname %q", v.Socket, v.JSON, ifname)
		}
	}
	if len(v.Socket) > 107 {
		t.Errorf("socket path %q is %d bytes: no unix socket can be bound there", v.Socket, len(v.Socket))
	}
}

// fzInside tells whether p is strictly below dir, lexically.
func fzInside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// FuzzParseArgs parses hostile CNI_ARGS strings: every refusal is CNI error
// 4, a pod UID is only ever accepted when it can safely name a directory,
// and what is accepted agrees with a plain reading of the KEY=VALUE pairs
// and survives being written out and parsed again.
func FuzzParseArgs(f *testing.F) {
	for _, a := range fzArgs {
		f.Add(a)
	}
	for _, a := range []string{
		"K8S_POD_UID=", "K8S_POD_UID=.", "K8S_POD_UID=" + strings.Repeat("a", 129), "K8S_POD_UID=a\x00b",
		";;;", "=", "=x;MAC=02:00:00:00:00:01", "MAC=a=b;MAC=02:00:00:00:00:03", "K8S_POD_NAME=x;K8S_POD_NAME=y;",
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-5d78c9869d-abcde;K8S_POD_INFRA_CONTAINER_ID=1;K8S_POD_UID=2e3f",
	} {
		f.Add(a)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := config.ParseArgs(s)
		if err != nil {
			fzWantCode(t, "ParseArgs", err, types.ErrInvalidEnvironmentVariables)
			if a != nil {
				t.Errorf("ParseArgs returned %+v with its error", a)
			}
			return
		}
		if u := a.PodUID; u != "" && (len(u) > 128 || strings.ContainsAny(u, "/\x00") || u == "." || u == ".." || !fzSafeName.MatchString(u)) {
			t.Errorf("pod UID %q accepted: it cannot safely name a directory", u)
		}
		// A plain reading: the last value of each known key wins.
		want := config.Args{}
		for pair := range strings.SplitSeq(s, ";") {
			k, v, ok := strings.Cut(pair, "=")
			if pair != "" && !ok {
				t.Fatalf("pair %q without '=' accepted", pair)
			}
			switch k {
			case "MAC":
				want.MAC = v
			case "K8S_POD_UID":
				want.PodUID = v
			case "K8S_POD_NAME":
				want.PodName = v
			case "K8S_POD_NAMESPACE":
				want.PodNamespace = v
			}
		}
		if *a != want {
			t.Errorf("ParseArgs(%q) = %+v, want %+v", s, *a, want)
		}
		// Written out as a runtime would, it parses back the same.
		pairs := []string{"IgnoreUnknown=1", "MAC=" + a.MAC, "K8S_POD_NAME=" + a.PodName, "K8S_POD_NAMESPACE=" + a.PodNamespace}
		if a.PodUID != "" {
			pairs = append(pairs, "K8S_POD_UID="+a.PodUID)
		}
		again, err := config.ParseArgs(strings.Join(pairs, ";"))
		if err != nil || *again != *a {
			t.Errorf("re-parsing %+v gave %+v, %v", *a, again, err)
		}
	})
}

// fzWantCode fails unless err is, unwrapped, a *types.Error with one of codes.
func fzWantCode(t *testing.T, what string, err error, codes ...uint) {
	t.Helper()
	te, ok := err.(*types.Error)
	if !ok {
		t.Fatalf("%s: error %T %v, want a *types.Error", what, err, err)
	}
	if !slices.Contains(codes, te.Code) || te.Msg == "" {
		t.Fatalf("%s: CNI error %d %q, want code %v with a message", what, te.Code, te.Msg, codes)
	}
}

func fzSnapshot(t *testing.T, c *config.NetConf) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("encoding a parsed config: %v", err)
	}
	return string(b)
}

func fzDeref[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// The node settings configs are fuzzed against: the defaults, and a node
// whose every directory is elsewhere, with lists of what it allows.
var fzNodes = func() []*node.Settings {
	def, err1 := node.Parse(nil, "")
	custom, err2 := node.Parse([]byte(`{"sysfsRoot":"/n/sys","stateDir":"/n/state","logDir":"/n/log",
		"deviceInfoDir":"/n/devinfo","vhostuser":{"podsDir":"/n/pods","ovsdb":"unix:/n/ovs/db.sock",
		"bridges":["br-dpdk","br0"],"groups":[1000],"provisionedDirs":["/n/vhost","/var/run/vhost"]}}`), "fuzz.json")
	if err := errors.Join(err1, err2); err != nil {
		panic(err)
	}
	return []*node.Settings{def, custom}
}()

// fzCheckBound: whatever the config said, the node's directories are in
// force, and the log file is a file of the node's log directory.
func fzCheckBound(t *testing.T, c *config.NetConf, n *node.Settings) {
	t.Helper()
	if c.StateDir != n.StateDir || c.SysfsRoot != n.SysfsRoot || c.Node != n {
		t.Errorf("bound stateDir %q, sysfsRoot %q: want the node's %q, %q", c.StateDir, c.SysfsRoot, n.StateDir, n.SysfsRoot)
	}
	if c.LogPath != "" && (filepath.Dir(c.LogPath) != n.LogDir || !fzInside(n.LogDir, c.LogPath)) {
		t.Errorf("log file %q is not a file of the node's log directory %q", c.LogPath, n.LogDir)
	}
}
