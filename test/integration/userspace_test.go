package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

// A VF bound to vfio-pci stays on the host: ADD moves nothing, reports the
// PCI address and the leased addresses, and writes the device-info file the
// runtime asked for; CHECK notices a driver change; DEL removes the file and
// the lease, and takes the mode from its record.
func TestUserspaceVF(t *testing.T) {
	nd := newNode(t, 1)
	// vfio-pci has taken the VF: no netdev any more (the veth stays as a
	// witness that nothing on the host moves).
	must(t, fakesysfs.Bind(nd.sysfs, vfPCI, "vfio-pci"))
	must(t, fakesysfs.MoveNetdev(nd.sysfs, vfPCI))
	pod := nd.pod()
	infoFile := filepath.Join(nd.Dir, "devinfo", "fpnet-c1-net1-device-info.json")
	conf := nd.conf("1.1.0", map[string]any{
		"capabilities":  map[string]bool{"CNIDeviceInfoFile": true},
		"runtimeConfig": map[string]any{"CNIDeviceInfoFile": infoFile},
	})
	r := rt(pod, "c1", "net1")
	r.CapabilityArgs = map[string]any{"CNIDeviceInfoFile": infoFile}
	res, err := nd.Add(conf, r)
	must(t, err)
	if i := res.Interfaces[0]; i.Name != "net1" || i.PciID != vfPCI || i.Sandbox != pod.Path() {
		t.Errorf("interface = %+v", i)
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != "10.77.0.10/24" {
		t.Errorf("ips = %v", res.IPs)
	}
	if _, err := netlink.LinkByName(nd.vfs[0]); err != nil {
		t.Errorf("the host netdev moved: %v", err)
	}
	must(t, pod.Do(func(ns.NetNS) error {
		if _, err := netlink.LinkByName("net1"); err == nil {
			t.Error("a net1 appeared in the pod")
		}
		return nil
	}))
	info, err := devinfo.Read(infoFile)
	must(t, err)
	if info.Type != "pci" || info.Version != "1.1.0" || info.PCI.PCIAddress != vfPCI || info.PCI.PFPCIAddress != pfPCI {
		t.Errorf("device info = %+v %+v", info, info.PCI)
	}
	must(t, nd.Check(conf, r))

	// The app's driver went away: CHECK fails naming it.
	must(t, fakesysfs.Bind(nd.sysfs, vfPCI, "igbvf"))
	if err := nd.Check(conf, r); err == nil || !strings.Contains(err.Error(), `bound to "igbvf", want "vfio-pci"`) {
		t.Errorf("CHECK after rebinding = %v", err)
	}

	// DEL goes by the record (userspace), not by the driver now bound.
	must(t, nd.Del(conf, r))
	if _, err := os.Stat(infoFile); !os.IsNotExist(err) {
		t.Errorf("device info left: %v", err)
	}
	nd.Released(t)
	must(t, nd.Del(conf, r))
}

// A VF with no driver at all is its own error.
func TestUnboundVF(t *testing.T) {
	nd := newNode(t, 1)
	must(t, fakesysfs.Unbind(nd.sysfs, vfPCI))
	must(t, fakesysfs.MoveNetdev(nd.sysfs, vfPCI))
	_, err := nd.Add(nd.conf("1.1.0", nil), rt(nd.pod(), "c1", "net1"))
	if cniCode(err) != 100 || !strings.Contains(err.Error(), "bound to no driver") {
		t.Errorf("ADD = %v, want code 100, bound to no driver", err)
	}
	nd.Released(t)
}
