// Package fastpathctl_test runs the fastpathctl binary against what the real
// fastpath plugin made on this machine: attachments through libcni in real
// network namespaces with host-local IPAM, on a fake sysfs whose VFs are
// veth stand-ins (the kernel here has no SR-IOV; the PF-side columns are
// tested on the emulated NIC, test/e2e), and vhost-user attachments on a
// private OVS-DPDK (test/ovsenv).
package fastpathctl_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	fpnode "github.com/fastpath-cni/fastpath/pkg/node"
	"github.com/fastpath-cni/fastpath/test/cnitest"
	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

// binDir holds fastpath, host-local and fastpathctl, built once.
var binDir string

// The tests run in a network namespace of their own, which the parent
// process makes (and builds the binaries for): OVS's userspace datapath
// opens one "ovs-netdev" tap per namespace, so the private OVS here would
// clash with any other OVS-DPDK test running at the same time (the
// vhost-user suite), and the veth stand-ins stay out of the host's way.
const envChild = "FASTPATHCTL_TEST_BIN"

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("fastpathctl tests need root (network namespaces, OVS)")
		os.Exit(1)
	}
	if binDir = os.Getenv(envChild); binDir != "" {
		if err := linkUp("lo"); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "fastpathctl-bin-")
	if err == nil {
		err = cnitest.Build(dir, "github.com/fastpath-cni/fastpath/cmd/fastpath",
			"github.com/containernetworking/plugins/plugins/ipam/host-local",
			"github.com/fastpath-cni/fastpath/cmd/fastpathctl")
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	code := 1
	self, err := os.Executable()
	if err == nil {
		cmd := exec.Command(self, os.Args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), envChild+"="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		err = cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			code = 0
		case errors.As(err, &ee) && ee.ExitCode() > 0:
			code, err = ee.ExitCode(), nil
		}
	}
	if err != nil {
		fmt.Println("running the tests in a network namespace of their own:", err)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

const pfPCI = "0000:01:00.0"

// fakePF is the emulated igb's layout: 7 VFs at offset 128, stride 2.
func fakePF(n int, prefix string) fakesysfs.PF {
	return fakesysfs.PF{
		PCI: pfPCI, Netdev: "fcpf", NumVFs: n, TotalVFs: 7, Offset: 128, Stride: 2,
		VFNetdevPrefix: prefix, VFDriver: "igbvf",
	}
}

// vfPCI is the PCI address of VF i.
func vfPCI(i int) string { return fakePF(7, "").VF(i) }

// node is one test's world: a fake sysfs whose VFs are veth ends on the
// host, their peers in a "wire" namespace, and a network.
type node struct {
	*cnitest.Net
	t     *testing.T
	sysfs string
	vfs   []string // VF netdev names on the host, by index
}

var nodeSeq int

func newNode(t *testing.T, n int) *node {
	t.Helper()
	nodeSeq++
	nd := &node{Net: cnitest.NewNet(t, binDir), t: t}
	nd.sysfs = filepath.Join(nd.Dir, "sys")
	wire := cnitest.Pod(t)
	prefix := fmt.Sprintf("fc%dv", nodeSeq%100)
	cnitest.Must(t, fakesysfs.Build(nd.sysfs, fakePF(n, prefix)))
	nd.SetNode("sysfsRoot", nd.sysfs)
	// fastpathctl gc runs the plugin with its own environment.
	t.Setenv(fpnode.PathEnv, nd.NodeFile)
	for i := range n {
		name := fmt.Sprintf("%s%d", prefix, i)
		veth := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: name, MTU: 1500},
			PeerName:  fmt.Sprintf("w%d", i), PeerNamespace: netlink.NsFd(int(wire.Fd())),
		}
		cnitest.Must(t, netlink.LinkAdd(veth))
		t.Cleanup(func() {
			if l, err := netlink.LinkByName(name); err == nil {
				netlink.LinkDel(l)
			}
		})
		nd.vfs = append(nd.vfs, name)
	}
	return nd
}

// conf is a conflist of one fastpath plugin on VF i of the fake sysfs.
func (nd *node) conf(i int) *libcni.NetworkConfigList {
	return nd.List("1.1.0", nd.Plugin("10.78.0.0/24", map[string]any{"deviceID": vfPCI(i)}))
}

// rt is the runtime side of pod id (namespace nfv, pod UID uid-<id>).
func rt(p ns.NetNS, id string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: p.Path(), IfName: "net1",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "nfv"}, {"K8S_POD_NAME", "pod-" + id}, {"K8S_POD_UID", "uid-" + id}}}
}

// flags are the global flags pointing fastpathctl at the node.
func (nd *node) flags() []string {
	return []string{"--state-dir", nd.StateDir, "--sysfs-root", nd.sysfs, "--cni-bin-dir", binDir,
		"--ovsdb", "unix:" + filepath.Join(nd.Dir, "no-ovsdb.sock"), "--pods-dir", filepath.Join(nd.Dir, "pods")}
}

// ctl runs fastpathctl and returns its stdout, stderr and exit code.
func ctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "fastpathctl"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("fastpathctl %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), code
}

// ctlJSON runs fastpathctl -o json, wants exit code want, and decodes its
// output into v.
func ctlJSON(t *testing.T, want int, v any, args ...string) {
	t.Helper()
	out, errOut, code := ctl(t, append(args, "-o", "json")...)
	if code != want {
		t.Fatalf("fastpathctl %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("fastpathctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// tree is every file, directory and link under the dirs with its mode and
// content (or link target): what "changes nothing" compares.
func tree(t *testing.T, dirs ...string) string {
	t.Helper()
	var lines []string
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				lines = append(lines, p+" "+err.Error())
				return nil
			}
			info, _ := d.Info()
			line := fmt.Sprintf("%s %v", p, info.Mode())
			switch {
			case info.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				line += " -> " + target
			case info.Mode().IsRegular():
				b, _ := os.ReadFile(p)
				sum := sha256.Sum256(b)
				line += " " + hex.EncodeToString(sum[:8])
			}
			lines = append(lines, line)
			return nil
		})
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// hostLinks names the links of the test's namespace.
func hostLinks(t *testing.T) string {
	links, err := netlink.LinkList()
	cnitest.Must(t, err)
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// unmount deletes a pod namespace the way a runtime does: the bind mount
// goes, and with the last reference the namespace.
func unmount(p ns.NetNS) error {
	p.Close()
	if err := unix.Unmount(p.Path(), unix.MNT_DETACH); err != nil {
		return err
	}
	return unix.Unlink(p.Path())
}

// The JSON of fastpathctl, as far as the tests read it.
type (
	listJSON struct {
		PFs []struct {
			PCI, Netdev, Error string
			NumVFs, TotalVFs   int
			VFs                []vfJSON
		}
		VhostUser []vhostJSON
		Orphans   []vfJSON
	}
	vfJSON struct {
		PCI, Netdev, Driver, Mode, Status       string
		ContainerID, Pod, PodUID, NetNS, IfName string
		NetNSAlive                              bool
		VF                                      int
		MAC                                     *string
		VLAN                                    *int
		Trust, SpoofChk                         *bool
	}
	vhostJSON struct {
		ContainerID, Pod, NetNS, IfName, Status       string
		Port, Bridge, Socket, PodDir, Role, PortState string
		LinkState                                     string
	}
	findingJSON struct {
		Kind, Key, Device, Result, Error, Detail string
	}
	gcJSON struct {
		DryRun   bool
		Findings []findingJSON
	}
	checkJSON struct {
		Name, Status, Detail, Fix string
	}
	doctorJSON struct {
		OK     bool
		Checks []checkJSON
	}
)

// vf finds the VF of pci in a list.
func (l *listJSON) vf(t *testing.T, pci string) vfJSON {
	t.Helper()
	for _, pf := range l.PFs {
		for _, v := range pf.VFs {
			if v.PCI == pci {
				return v
			}
		}
	}
	t.Fatalf("list shows no VF %s: %+v", pci, l)
	return vfJSON{}
}

// findings of kind, by key or device.
func (g *gcJSON) find(kind, keyOrDevice string) *findingJSON {
	for i, f := range g.Findings {
		if f.Kind == kind && (f.Key == keyOrDevice || f.Device == keyOrDevice) {
			return &g.Findings[i]
		}
	}
	return nil
}

func (d *doctorJSON) check(t *testing.T, name string) checkJSON {
	t.Helper()
	for _, c := range d.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("doctor has no check %s: %+v", name, d.Checks)
	return checkJSON{}
}
