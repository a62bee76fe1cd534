//go:build e2e

// Package e2e runs inside the emulated SR-IOV guest (test/vm): a real igb PF
// with 7 VFs bound to igbvf, real netns, real host-local IPAM, libcni and
// cnitool. `make e2e` builds this test binary and boots the guest with it.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// nic is the guest's SR-IOV NIC as sysfs shows it.
type nic struct {
	pf    string   // PF netdev
	vfs   []string // VF PCI addresses, by index
	names []string // VF netdev names on the host, by index
}

func findNIC(t *testing.T) nic { return findNICExcept(t, -1) }

// findNICExcept is findNIC for a NIC whose VF skip is off the kernel driver.
func findNICExcept(t *testing.T, skip int) nic {
	t.Helper()
	pfs, _ := filepath.Glob("/sys/bus/pci/drivers/igb/0000:*")
	if len(pfs) == 0 {
		t.Fatal("no igb PF in the guest")
	}
	var n nic
	nets, _ := os.ReadDir(filepath.Join(pfs[0], "net"))
	if len(nets) == 0 {
		t.Fatal("igb PF has no netdev")
	}
	n.pf = nets[0].Name()
	for i := 0; ; i++ {
		l, err := os.Readlink(filepath.Join(pfs[0], fmt.Sprintf("virtfn%d", i)))
		if err != nil {
			break
		}
		pci := filepath.Base(l)
		n.vfs = append(n.vfs, pci)
		if i == skip {
			n.names = append(n.names, "")
			continue
		}
		vn, _ := os.ReadDir(filepath.Join("/sys/bus/pci/devices", pci, "net"))
		if len(vn) == 0 {
			t.Fatalf("VF %s has no netdev on the host: a test before this one leaked it", pci)
		}
		n.names = append(n.names, vn[0].Name())
	}
	if len(n.vfs) != 7 {
		t.Fatalf("want 7 VFs, found %d", len(n.vfs))
	}
	return n
}

// ipLink is `ip link show NAME` from iproute2, the operator's own view.
func ipLink(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("/usr/sbin/ip-full", "link", "show", name).CombinedOutput()
	if err != nil {
		t.Fatalf("ip link show %s: %v\n%s", name, err, out)
	}
	return string(out)
}

// snapshot is everything about the NIC a pod may change: `ip link show` of
// the PF, exactly, and of every VF netdev but its qdisc. A netdev that was
// never up shows "qdisc noop"; the first open attaches the default qdisc,
// which stays when it goes down again. That is the kernel's, not a setting.
func (n nic) snapshot(t *testing.T) string {
	var b strings.Builder
	b.WriteString(ipLink(t, n.pf))
	for _, name := range n.names {
		if name != "" {
			b.WriteString(qdiscRe.ReplaceAllString(ipLink(t, name), "qdisc -"))
		}
	}
	return b.String()
}

// same fails the test if the NIC's snapshot differs from before.
func (n nic) same(t *testing.T, before, when string) {
	t.Helper()
	if after := n.snapshot(t); after != before {
		t.Errorf("NIC %s differs from before:\n--- before\n%s--- after\n%s", when, before, after)
	}
}

var qdiscRe = regexp.MustCompile(`qdisc \S+`)

// ping sends from the pod; it passes if any reply comes back.
func ping(p ns.NetNS, dst string) error {
	return p.Do(func(ns.NetNS) error {
		out, err := exec.Command("ping", "-c", "3", "-w", "6", dst).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ping %s: %w\n%s", dst, err, out)
		}
		return nil
	})
}

var binDir = func() string {
	if p := os.Getenv("CNI_PATH"); p != "" {
		return p
	}
	return "/opt/cni/bin"
}()

var must = cnitest.Must
