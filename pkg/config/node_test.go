package config_test

import (
	"fmt"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/node"
)

var testNode = func() *node.Settings {
	n, err := node.Parse([]byte(`{"sysfsRoot":"/n/sys","stateDir":"/n/state","logDir":"/n/log",
		"deviceInfoDir":"/n/devinfo","vhostuser":{"podsDir":"/n/pods","ovsdb":"unix:/n/ovs/db.sock",
		"bridges":["br-dpdk"],"groups":[1000],"provisionedDirs":["/n/vhost"]}}`), "/etc/fastpath/node.json")
	if err != nil {
		panic(err)
	}
	return n
}()

// A network config that names a node setting with the node's value is
// taken (configs written for earlier releases do); any other value is code
// 7 naming the key and the value, and the node's values are in force either
// way.
func TestBindNode(t *testing.T) {
	for _, tc := range []struct {
		extra   string
		bad     string // "": accepted; else the key and value the error names
		logPath string
	}{
		{extra: ``},
		{extra: `"sysfsRoot":"/n/sys","stateDir":"/n/state"`},
		{extra: `"sysfsRoot":"/tmp/planted/sys"`, bad: `sysfsRoot "/tmp/planted/sys"`},
		{extra: `"sysfsRoot":"/n/sys/"`, bad: `sysfsRoot "/n/sys/"`},
		{extra: `"stateDir":"/var/lib/cni/fastpath"`, bad: `stateDir "/var/lib/cni/fastpath"`},
		{extra: `"logFile":"fp.log"`, logPath: "/n/log/fp.log"},
		{extra: `"logFile":"/n/log/fp.log"`, logPath: "/n/log/fp.log"},
		// A path elsewhere (sriov-cni's configs give one) logs to the file
		// of its name in the node's log directory, never outside it.
		{extra: `"logFile":"/var/log/sriov-cni.log"`, logPath: "/n/log/sriov-cni.log"},
		{extra: `"logFile":"/etc/passwd"`, logPath: "/n/log/passwd"},
		{extra: `"logFile":"/n/log/sub/fp.log"`, logPath: "/n/log/fp.log"},
		{extra: `"logFile":"../fp.log"`, logPath: "/n/log/fp.log"},
		{extra: `"logFile":".."`, bad: `logFile ".."`},
		{extra: `"logFile":"/"`, bad: `logFile "/"`},
		{extra: `"logFile":"/etc/.hidden"`, bad: `logFile "/etc/.hidden"`},
		{extra: `"vhostuser":{"bridge":"br-dpdk","podsDir":"/n/pods","ovsdb":"unix:/n/ovs/db.sock","ovsSocketDir":"/n/ovs","group":1000}`},
		{extra: `"vhostuser":{"bridge":"br-dpdk","podsDir":"/etc"}`, bad: `vhostuser.podsDir "/etc"`},
		{extra: `"vhostuser":{"bridge":"br-dpdk","ovsdb":"tcp:192.0.2.1:6640"}`, bad: `vhostuser.ovsdb "tcp:192.0.2.1:6640"`},
		{extra: `"vhostuser":{"bridge":"br-dpdk","ovsSocketDir":"/run"}`, bad: `vhostuser.ovsSocketDir "/run"`},
		{extra: `"vhostuser":{"bridge":"br-int"}`, bad: `vhostuser.bridge "br-int"`},
		{extra: `"vhostuser":{"bridge":"br-dpdk","group":0}`, bad: `vhostuser.group "0"`},
	} {
		t.Run(tc.extra, func(t *testing.T) {
			c, err := config.Parse(conf(tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			err = c.BindNode(testNode)
			if tc.bad == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.bad != "" {
				wantCNIError(t, err, types.ErrInvalidNetworkConfig, tc.bad, "/etc/fastpath/node.json")
			}
			if c.Node != testNode || c.SysfsRoot != "/n/sys" || c.StateDir != "/n/state" {
				t.Errorf("bound to %p, sysfsRoot %q, stateDir %q: want the node's", c.Node, c.SysfsRoot, c.StateDir)
			}
			if tc.bad == "" && c.LogPath != tc.logPath {
				t.Errorf("log path %q, want %q", c.LogPath, tc.logPath)
			}
		})
	}
}

// What ADD resolves with the node: the device-info file in the node's
// directory, the vhost-user endpoints and directories the node's, a
// provisioned socket only from the node's provisioned directories.
func TestResolveWithNode(t *testing.T) {
	for _, tc := range []struct {
		extra string
		bad   string
	}{
		{extra: `"runtimeConfig":{"CNIDeviceInfoFile":"/n/devinfo/cni/x.json"}`},
		{extra: `"runtimeConfig":{"CNIDeviceInfoFile":"/etc/sudoers.d/x"}`, bad: `runtimeConfig.CNIDeviceInfoFile "/etc/sudoers.d/x"`},
		{extra: `"runtimeConfig":{"CNIDeviceInfoFile":"/n/devinfo"}`, bad: `runtimeConfig.CNIDeviceInfoFile "/n/devinfo"`},
		{extra: `"runtimeConfig":{"CNIDeviceInfoFile":"/n/devinfo/../x.json"}`, bad: `runtimeConfig.CNIDeviceInfoFile "/n/devinfo/../x.json"`},
	} {
		t.Run(tc.extra, func(t *testing.T) {
			c, err := config.Parse(conf(tc.extra))
			if err == nil {
				err = c.BindNode(testNode)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Resolve(nil)
			if tc.bad == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.bad != "" {
				wantCNIError(t, err, types.ErrInvalidNetworkConfig, tc.bad)
			}
		})
	}
	for _, tc := range []struct {
		vhost, device string
		bad           string
	}{
		{vhost: `{"bridge":"br-dpdk","socketRole":"client"}`},
		{vhost: `{"backend":"provisioned"}`, device: "/n/vhost/a.sock"},
		{vhost: `{"backend":"provisioned"}`, device: "/n/devinfo/dp/a.json"},
		{vhost: `{"backend":"provisioned"}`, device: "/run/containerd/containerd.sock", bad: `deviceID "/run/containerd/containerd.sock"`},
		{vhost: `{"backend":"provisioned"}`, device: "/n/vhostx/a.sock", bad: `deviceID "/n/vhostx/a.sock"`},
		{vhost: `{"backend":"provisioned"}`, device: "/n/devinfo/a.sock", bad: `deviceID "/n/devinfo/a.sock"`},
	} {
		t.Run(tc.vhost+tc.device, func(t *testing.T) {
			c, err := config.Parse(conf(fmt.Sprintf(`"mode":"vhostuser","deviceID":%q,"vhostuser":%s`, tc.device, tc.vhost)))
			if err == nil {
				err = c.BindNode(testNode)
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := c.ResolveVhost("uid-1", "net1")
			if tc.bad != "" {
				wantCNIError(t, err, types.ErrInvalidNetworkConfig, tc.bad)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if v.OVSDB != "unix:/n/ovs/db.sock" || v.OVSSocketDir != "/n/ovs" || v.PodDir != "/n/pods/uid-1" || v.Provisioned != tc.device {
				t.Errorf("resolved %+v: want the node's endpoint and directories", v)
			}
		})
	}
	// Without provisioned directories the node allows no provisioned socket.
	def, err := node.Parse(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(conf(`"mode":"vhostuser","deviceID":"/var/run/vhost/a.sock","vhostuser":{"backend":"provisioned"}`))
	if err == nil {
		err = c.BindNode(def)
	}
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ResolveVhost("uid-1", "net1")
	wantCNIError(t, err, types.ErrInvalidNetworkConfig, `vhostuser.backend "provisioned"`, "provisionedDirs")
}
