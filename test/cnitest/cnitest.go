// Package cnitest drives CNI plugins through libcni, the way a runtime does,
// for the integration tests on this machine and the end-to-end tests in the
// emulated SR-IOV guest.
package cnitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/pkg/node"
)

// Plugins are the packages a test run builds: fastpath and the reference
// plugins it works with.
var Plugins = []string{
	"github.com/fastpath-cni/fastpath/cmd/fastpath",
	"github.com/containernetworking/plugins/plugins/ipam/host-local",
	"github.com/containernetworking/plugins/plugins/meta/tuning",
}

// Build compiles static binaries of pkgs into dir.
func Build(dir string, pkgs ...string) error {
	for _, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, filepath.Base(pkg)), pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %w\n%s", pkg, err, out)
		}
	}
	return nil
}

// Net is one network on a node: a libcni client with its own cache, state
// and IPAM directories under Dir, and its own node file (package node),
// which its plugins find through the runtime's environment, as a harness
// must: a network config cannot move fastpath's node settings.
type Net struct {
	T        testing.TB
	Dir      string
	StateDir string
	IPAMDir  string
	NodeFile string
	CNI      *libcni.CNIConfig

	node map[string]any
}

// NewNet makes a network whose plugins are found in binDir. Its node file
// puts the state directory, the log directory and the device-info directory
// under Dir.
func NewNet(t testing.TB, binDir string) *Net {
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "fastpath.log")); err == nil {
				t.Logf("fastpath.log:\n%s", b)
			}
		}
	})
	n := &Net{
		T: t, Dir: dir, StateDir: filepath.Join(dir, "state"), IPAMDir: filepath.Join(dir, "ipam"),
		NodeFile: filepath.Join(dir, "node.json"),
	}
	n.node = map[string]any{"stateDir": n.StateDir, "logDir": dir, "deviceInfoDir": dir}
	n.writeNode()
	exec := nodeExec{&invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}}, n.NodeFile}
	n.CNI = libcni.NewCNIConfigWithCacheDir([]string{binDir}, filepath.Join(dir, "cache"), exec)
	return n
}

// SetNode sets a key of the network's node file (a nil value deletes it).
func (n *Net) SetNode(key string, value any) {
	if value == nil {
		delete(n.node, key)
	} else {
		n.node[key] = value
	}
	n.writeNode()
}

func (n *Net) writeNode() {
	b, err := json.Marshal(n.node)
	Must(n.T, err)
	Must(n.T, os.WriteFile(n.NodeFile, b, 0o600))
}

// Env is what a process that runs the plugin (or fastpathctl) itself needs
// in its environment to see the network's node file.
func (n *Net) Env() string { return node.PathEnv + "=" + n.NodeFile }

// nodeExec runs plugins as libcni does, with the node file in their
// environment.
type nodeExec struct {
	*invoke.DefaultExec
	file string
}

func (e nodeExec) ExecPlugin(ctx context.Context, path string, stdin []byte, environ []string) ([]byte, error) {
	return e.DefaultExec.ExecPlugin(ctx, path, stdin, append(environ, node.PathEnv+"="+e.file))
}

// Plugin is a fastpath plugin config with host-local IPAM on subnet, merged
// with extra (a nil value deletes a key).
func (n *Net) Plugin(subnet string, extra map[string]any) map[string]any {
	p := map[string]any{
		"type": "fastpath", "logFile": "fastpath.log", "logLevel": "debug",
		"ipam": map[string]any{
			"type": "host-local", "dataDir": n.IPAMDir,
			"ranges": [][]map[string]any{{{"subnet": subnet}}},
		},
	}
	for k, v := range extra {
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	return p
}

// List makes a conflist named "fpnet".
func (n *Net) List(cniVersion string, plugins ...map[string]any) *libcni.NetworkConfigList {
	b, err := json.Marshal(map[string]any{"cniVersion": cniVersion, "name": "fpnet", "plugins": plugins})
	Must(n.T, err)
	l, err := libcni.NetworkConfFromBytes(b)
	Must(n.T, err)
	return l
}

// Add runs ADD and converts the result to the current version.
func (n *Net) Add(l *libcni.NetworkConfigList, r *libcni.RuntimeConf) (*current.Result, error) {
	res, err := n.CNI.AddNetworkList(context.Background(), l, r)
	if err != nil {
		return nil, err
	}
	return current.NewResultFromResult(res)
}

// Del runs DEL.
func (n *Net) Del(l *libcni.NetworkConfigList, r *libcni.RuntimeConf) error {
	return n.CNI.DelNetworkList(context.Background(), l, r)
}

// Check runs CHECK.
func (n *Net) Check(l *libcni.NetworkConfigList, r *libcni.RuntimeConf) error {
	return n.CNI.CheckNetworkList(context.Background(), l, r)
}

// Leases lists host-local's reserved addresses.
func (n *Net) Leases() []string {
	ents, _ := os.ReadDir(filepath.Join(n.IPAMDir, "fpnet"))
	var out []string
	for _, e := range ents {
		if net.ParseIP(e.Name()) != nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// StateFiles lists the files under the state directory but the lock files,
// which stay by design.
func (n *Net) StateFiles() []string {
	var out []string
	filepath.WalkDir(n.StateDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".lock") {
			out = append(out, strings.TrimPrefix(p, n.StateDir))
		}
		return nil
	})
	return out
}

// Released fails the test if any lease or record of the network is left.
func (n *Net) Released(t testing.TB) {
	t.Helper()
	if l := n.Leases(); len(l) != 0 {
		t.Errorf("leases left: %v", l)
	}
	if s := n.StateFiles(); len(s) != 0 {
		t.Errorf("state left: %v", s)
	}
}

// RT is the runtime side of one attachment.
func RT(p ns.NetNS, id, ifname string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: p.Path(), IfName: ifname}
}

// Pod makes a network namespace that goes with the test.
func Pod(t testing.TB) ns.NetNS {
	p, err := testutils.NewNS()
	Must(t, err)
	t.Cleanup(func() { p.Close(); testutils.UnmountNS(p) })
	return p
}

// LinkState is what a test compares before ADD and after DEL.
type LinkState struct {
	Name, MAC string
	MTU       int
	Up        bool
}

// HostLink reads a link of the test's own namespace.
func HostLink(t testing.TB, name string) LinkState {
	t.Helper()
	l, err := netlink.LinkByName(name)
	Must(t, err)
	a := l.Attrs()
	return LinkState{a.Name, a.HardwareAddr.String(), a.MTU, a.Flags&net.FlagUp != 0}
}

// Code returns the CNI error code of err, or 0.
func Code(err error) uint {
	var te *types.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// Must stops the test on an error.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BuildV1 builds, into dir/v1, fastpath as it was when it wrote version 1
// records (the commit test/v1.commit names), from the repository's own
// history, for the upgrade tests. It fails when the history lacks it (a
// shallow clone): the caller skips.
func BuildV1(dir string) (string, error) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("finding the repository: %w", err)
	}
	root := strings.TrimSpace(string(top))
	commit, err := os.ReadFile(filepath.Join(root, "test/v1.commit"))
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "v1src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, strings.TrimSpace(string(commit)), src)
	if out, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("extracting %s: %w\n%s", commit, err, out)
	}
	bin := filepath.Join(dir, "v1")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "fastpath"), "./cmd/fastpath")
	build.Dir, build.Env = src, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building fastpath %s: %w\n%s", commit, err, out)
	}
	return bin, nil
}
