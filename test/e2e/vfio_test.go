//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// bind hands a PCI device to driver ("" gives it back to the kernel's own
// match) the way the SR-IOV device plugin's admins do: driver_override, then
// a new probe.
func bind(t *testing.T, pci, driver string) {
	t.Helper()
	dev := filepath.Join("/sys/bus/pci/devices", pci)
	must(t, os.WriteFile(filepath.Join(dev, "driver_override"), []byte(driver+"\n"), 0o200))
	if _, err := os.Lstat(filepath.Join(dev, "driver")); err == nil {
		must(t, os.WriteFile(filepath.Join(dev, "driver/unbind"), []byte(pci), 0o200))
	}
	must(t, os.WriteFile("/sys/bus/pci/drivers_probe", []byte(pci), 0o200))
}

// backToKernel returns VF idx to igbvf as an operator returning it to the
// netdevice pool does: the admin MAC cleared first. (fastpath restores the
// PF's VF table exactly, and on igb an admin MAC, even one equal to the
// VF's own former address, pins the MAC igbvf will read at probe.)
func backToKernel(t *testing.T, nc nic, idx int) {
	t.Helper()
	pf, err := netlink.LinkByName(nc.pf)
	must(t, err)
	must(t, netlink.LinkSetVfHardwareAddr(pf, idx, make([]byte, 6)))
	bind(t, nc.vfs[idx], "")
	waitNetdev(t, nc.vfs[idx])
}

// waitNetdev waits, bounded, for a rebound VF's netdev to register.
func waitNetdev(t *testing.T, pci string) string {
	t.Helper()
	for range 100 {
		if ents, _ := os.ReadDir(filepath.Join("/sys/bus/pci/devices", pci, "net")); len(ents) > 0 {
			return ents[0].Name()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("VF %s has no netdev after rebinding", pci)
	return ""
}

// A VF on vfio-pci (what a DPDK pod gets): fastpath configures it from the
// PF, moves nothing, reports its PCI address and addresses, writes the
// device-info file; CHECK watches the PF side; DEL restores the PF exactly.
func TestVfioVF(t *testing.T) {
	nc := findNIC(t)
	pci := nc.vfs[6]
	bind(t, pci, "vfio-pci")
	defer backToKernel(t, nc, 6)
	groupLink, err := os.Readlink(filepath.Join("/sys/bus/pci/devices", pci, "iommu_group"))
	must(t, err)
	if _, err := os.Stat("/dev/vfio/" + filepath.Base(groupLink)); err != nil {
		t.Fatalf("no vfio group device for %s: %v", pci, err)
	}
	before := ipLink(t, nc.pf)

	n := cnitest.NewNet(t, binDir)
	p := cnitest.Pod(t)
	info := filepath.Join(n.Dir, "devinfo.json")
	l := n.List("1.1.0", n.Plugin("10.60.0.0/24", map[string]any{
		"deviceID": pci, "vlan": 600, "vlanQoS": 5, "mac": "02:60:00:00:00:01", "spoofchk": "off", "trust": "on",
		"max_tx_rate": 200, "runtimeConfig": map[string]any{"CNIDeviceInfoFile": info},
	}))
	r := cnitest.RT(p, "dpdk-pod", "net1")
	res, err := n.Add(l, r)
	must(t, err)
	if i := res.Interfaces[0]; i.PciID != pci || i.Mac != "02:60:00:00:00:01" || i.Sandbox != p.Path() {
		t.Errorf("interface = %+v", i)
	}
	if len(res.IPs) != 1 || !strings.HasPrefix(res.IPs[0].Address.String(), "10.60.0.") {
		t.Errorf("ips = %v", res.IPs)
	}
	want := "vf 6     link/ether 02:60:00:00:00:01 brd ff:ff:ff:ff:ff:ff, vlan 600, qos 5, tx rate 200 (Mbps), max_tx_rate 200Mbps, spoof checking off, link-state auto, trust on"
	if pf := ipLink(t, nc.pf); !strings.Contains(pf, want) {
		t.Errorf("PF does not show %q:\n%s", want, pf)
	}
	di, err := devinfo.Read(info)
	must(t, err)
	if di.Type != "pci" || di.PCI.PCIAddress != pci || di.PCI.PFPCIAddress != "0000:01:00.0" {
		t.Errorf("device info %+v %+v", di, di.PCI)
	}
	must(t, n.Check(l, r))

	pfLink, err := netlink.LinkByName(nc.pf)
	must(t, err)
	must(t, netlink.LinkSetVfSpoofchk(pfLink, 6, true))
	if err := n.Check(l, r); err == nil || !strings.Contains(err.Error(), "spoofchk is true, want false") {
		t.Errorf("CHECK after spoofchk changed = %v", err)
	}
	must(t, netlink.LinkSetVfSpoofchk(pfLink, 6, false))
	must(t, n.Check(l, r))

	must(t, n.Del(l, r))
	if after := ipLink(t, nc.pf); after != before {
		t.Errorf("PF after DEL differs:\n--- before\n%s--- after\n%s", before, after)
	}
	if _, err := os.Stat(info); !os.IsNotExist(err) {
		t.Errorf("device info left: %v", err)
	}
	n.Released(t)
	must(t, n.Del(l, r))
}
