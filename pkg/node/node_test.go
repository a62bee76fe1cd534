package node_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastpath-cni/fastpath/pkg/node"
)

func TestDefaults(t *testing.T) {
	n, err := node.Parse(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	v := n.VhostUser
	if n.SysfsRoot != "/sys" || n.StateDir != "/var/lib/cni/fastpath" || n.LogDir != "/var/log/fastpath" ||
		n.DeviceInfoDir != "/var/run/k8s.cni.cncf.io/devinfo" || v.PodsDir != "/var/run/fastpath/pods" ||
		v.OVSDB != "unix:/var/run/openvswitch/db.sock" || v.OVSSocketDir != "/var/run/openvswitch" ||
		v.Bridges != nil || v.Groups != nil || v.ProvisionedDirs != nil {
		t.Errorf("defaults %+v", n)
	}
	if !v.BridgeAllowed("any") || !v.GroupAllowed(0) || v.ProvisionedAllowed("/var/run/x.sock") {
		t.Error("defaults: want any bridge and group, no provisioned socket")
	}
	if !strings.Contains(n.Describe(), node.DefaultPath) {
		t.Errorf("Describe() = %q, want it to name %s", n.Describe(), node.DefaultPath)
	}
}

func TestParseRefuses(t *testing.T) {
	for file, want := range map[string]string{
		`{"sysfsroot2":"/x"}`:                         "unknown field",
		`{"sysfsRoot":"sys"}`:                         `sysfsRoot "sys"`,
		`{"stateDir":"/a/../b"}`:                      `stateDir "/a/../b"`,
		`{"logDir":"/var/log/"}`:                      `logDir "/var/log/"`,
		`{"vhostuser":{"ovsdb":"ssl:1.2.3.4:6640"}}`:  `vhostuser.ovsdb "ssl:1.2.3.4:6640"`,
		`{"vhostuser":{"groups":[-1]}}`:               "vhostuser.groups: -1",
		`{"vhostuser":{"bridges":[""]}}`:              "vhostuser.bridges",
		`{"vhostuser":{"provisionedDirs":["vhost"]}}`: `vhostuser.provisionedDirs "vhost"`,
		`{"vhostuser":{"ovsSocketDir":"run/ovs"}}`:    `vhostuser.ovsSocketDir "run/ovs"`,
		`[]`: "cannot unmarshal",
	} {
		_, err := node.Parse([]byte(file), "/etc/fastpath/node.json")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "/etc/fastpath/node.json") {
			t.Errorf("%s: got %v, want an error naming the file and %q", file, err, want)
		}
	}
}

// The variable names the file; a named file that is missing is an error,
// never the defaults.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "node.json")
	if err := os.WriteFile(p, []byte(`{"sysfsRoot":"/tmp/sys","vhostuser":{"ovsdb":"tcp:127.0.0.1:6640"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(node.PathEnv, p)
	n, err := node.Load()
	if err != nil {
		t.Fatal(err)
	}
	if n.SysfsRoot != "/tmp/sys" || n.StateDir != node.DefaultStateDir || n.Source != p || n.VhostUser.OVSSocketDir != "" {
		t.Errorf("loaded %+v", n)
	}
	t.Setenv(node.PathEnv, filepath.Join(dir, "missing.json"))
	if _, err := node.Load(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing named file: got %v, want ErrNotExist", err)
	}
}

// A provisioned socket or device-info file is checked with every link
// followed: a link in an allowed directory cannot reach a socket elsewhere.
func TestCheckProvisioned(t *testing.T) {
	dir := t.TempDir()
	allowed := filepath.Join(dir, "vhost")
	devinfo := filepath.Join(dir, "devinfo")
	other := filepath.Join(dir, "run")
	for _, d := range []string{allowed, devinfo, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(allowed, "a.sock"), filepath.Join(other, "daemon.sock"), filepath.Join(devinfo, "x.json")} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(other, "daemon.sock"), filepath.Join(allowed, "link.sock")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(allowed, "sub")); err != nil {
		t.Fatal(err)
	}
	n, err := node.Parse([]byte(`{"deviceInfoDir":"`+devinfo+`","vhostuser":{"provisionedDirs":["`+allowed+`"]}}`), "test")
	if err != nil {
		t.Fatal(err)
	}
	v := &n.VhostUser
	if err := v.CheckProvisioned(filepath.Join(allowed, "a.sock")); err != nil {
		t.Errorf("a socket in the directory: %v", err)
	}
	for _, p := range []string{filepath.Join(allowed, "link.sock"), filepath.Join(allowed, "sub", "daemon.sock"), filepath.Join(other, "daemon.sock")} {
		if err := v.CheckProvisioned(p); !errors.Is(err, node.ErrOutside) {
			t.Errorf("%s: got %v, want ErrOutside", p, err)
		}
	}
	if err := n.CheckDeviceInfo(filepath.Join(devinfo, "x.json")); err != nil {
		t.Errorf("a device-info file in its directory: %v", err)
	}
	if err := n.CheckDeviceInfo(filepath.Join(allowed, "sub", "daemon.sock")); !errors.Is(err, node.ErrOutside) {
		t.Errorf("device-info through a link: got %v, want ErrOutside", err)
	}
}
