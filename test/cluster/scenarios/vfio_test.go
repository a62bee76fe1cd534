//go:build cluster

package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// appPID is the pod's process that has the environment variable name (its app
// container, not the sandbox), so its mount namespace is the container's.
func appPID(t *testing.T, uid, name string) (pid, value string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "pod"+uid) {
			continue
		}
		env, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "environ"))
		for _, kv := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				return filepath.Base(filepath.Dir(p)), v
			}
		}
	}
	t.Fatalf("no process of pod %s has %s", uid, name)
	return "", ""
}

// TestVFIO: a pod on the vfio pool with deployments/networks' sriov-dpdk-vlan200
// gets its VF's /dev/vfio group and PCI address from the device plugin, and
// fastpath sets the PF side (VLAN 200, spoof checking, trust); after the pod
// is gone the VF is as found.
func TestVFIO(t *testing.T) {
	nodeUp(t)
	before := nodeVFs(t)
	pods := runPods(t, podSpec("vfio", `[{"name":"sriov-dpdk-vlan200","interface":"net1"}]`, vfioRes))
	pod := pods["vfio"]
	st := vfStatus(t, pod, "default/sriov-dpdk-vlan200")
	pci := st.DeviceInfo.Pci.PciAddress
	pid, env := appPID(t, string(pod.UID), "PCIDEVICE_INTEL_COM_SRIOV_VFIO")
	if env != pci {
		t.Errorf("PCIDEVICE_INTEL_COM_SRIOV_VFIO=%q, network-status names %s", env, pci)
	}
	group, err := os.Readlink(filepath.Join("/sys/bus/pci/devices", pci, "iommu_group"))
	if err != nil {
		t.Fatalf("iommu group of %s: %v", pci, err)
	}
	dev := "/dev/vfio/" + filepath.Base(group)
	if _, err := os.Stat(filepath.Join("/proc", pid, "root", dev)); err != nil {
		t.Errorf("pod has no %s: %v", dev, err)
	}
	vf := vfByPCI(t, nodeVFs(t), pci)
	if vf.Driver != "vfio-pci" || vf.Table.Vlan != 200 || !vf.Table.Spoofchk || vf.Table.Trust != 1 {
		t.Errorf("VF %s: driver %s, PF side %+v; want vfio-pci, VLAN 200, spoofchk on, trust on", pci, vf.Driver, vf.Table)
	}
	deletePods(t, "vfio")
	vfsAsFound(t, before, 2*time.Minute)
}
