//go:build cluster

package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	nadutils "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/utils"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

// vfState is what a pod's VF must get back: the PF's VF table entry and the
// VF's own netdev (name, MAC) and driver.
type vfState struct {
	PCI, Driver, Netdev, NetdevMAC string
	Table                          netlink.VfInfo
}

// nodeVFs reads every VF of the PF.
func nodeVFs(t *testing.T) map[int]vfState {
	t.Helper()
	pf, err := netlink.LinkByName(pfName)
	if err != nil {
		t.Fatalf("PF %s: %v", pfName, err)
	}
	out := map[int]vfState{}
	for _, vf := range pf.Attrs().Vfs {
		dir := fmt.Sprintf("/sys/class/net/%s/device/virtfn%d", pfName, vf.ID)
		s := vfState{Table: vf}
		if l, err := os.Readlink(dir); err == nil {
			s.PCI = filepath.Base(l)
		}
		if l, err := os.Readlink(dir + "/driver"); err == nil {
			s.Driver = filepath.Base(l)
		}
		if nets, err := os.ReadDir(dir + "/net"); err == nil && len(nets) == 1 {
			s.Netdev = nets[0].Name()
			b, _ := os.ReadFile(filepath.Join(dir, "net", s.Netdev, "address"))
			s.NetdevMAC = strings.TrimSpace(string(b))
		}
		out[vf.ID] = s
	}
	return out
}

// vfByPCI finds the VF with the PCI address.
func vfByPCI(t *testing.T, vfs map[int]vfState, pci string) vfState {
	t.Helper()
	for _, v := range vfs {
		if v.PCI == pci {
			return v
		}
	}
	t.Fatalf("no VF %s on %s", pci, pfName)
	return vfState{}
}

// createNAD creates a NetworkAttachmentDefinition of the test's own, on the
// device plugin's pool resourceName (none if empty), and deletes it at the end.
func createNAD(t *testing.T, name, resourceName, config string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nads := dyn.Resource(schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}).Namespace("default")
	md := map[string]any{"name": name, "namespace": "default"}
	if resourceName != "" {
		md["annotations"] = map[string]any{"k8s.v1.cni.cncf.io/resourceName": resourceName}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1",
		"kind":       "NetworkAttachmentDefinition",
		"metadata":   md,
		"spec":       map[string]any{"config": config},
	}}
	if _, err := nads.Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create NAD %s: %v", name, err)
	}
	t.Cleanup(func() { _ = nads.Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// networkNet1 is the PCI address that the pod's network-status names for net1.
func networkNet1(pod *corev1.Pod) (string, error) {
	sts, err := nadutils.GetNetworkStatus(pod)
	if err != nil {
		return "", err
	}
	for _, s := range sts {
		if s.Interface == "net1" && s.DeviceInfo != nil && s.DeviceInfo.Pci != nil {
			return s.DeviceInfo.Pci.PciAddress, nil
		}
	}
	return "", fmt.Errorf("no net1 with a PCI device in %+v", sts)
}

// vfStatus is the pod's network-status entry for net1, checked to name a PCI
// device as Multus reports it from the device plugin's device-info file.
func vfStatus(t *testing.T, pod *corev1.Pod, network string) nadv1.NetworkStatus {
	t.Helper()
	sts, err := nadutils.GetNetworkStatus(pod)
	if err != nil {
		t.Fatalf("pod %s network-status: %v", pod.Name, err)
	}
	for _, s := range sts {
		if s.Interface == "net1" {
			if s.Name != network {
				t.Errorf("pod %s net1: network %q, want %q", pod.Name, s.Name, network)
			}
			if s.DeviceInfo == nil || s.DeviceInfo.Type != nadv1.DeviceInfoTypePCI || s.DeviceInfo.Pci == nil || s.DeviceInfo.Pci.PciAddress == "" {
				t.Fatalf("pod %s net1: device-info %+v, want type pci with a pci-address", pod.Name, s.DeviceInfo)
			}
			return s
		}
	}
	t.Fatalf("pod %s: no net1 in network-status %+v", pod.Name, sts)
	return nadv1.NetworkStatus{}
}

// TestKernelVF: two pods on the kernel-VF pool with deployments/networks'
// sriov-vlan100 get net1, a VF on VLAN 100 with the MAC they ask for and
// host-local's address, and reach each other; a pod on VLAN 200 (same subnet)
// does not reach them. The network-status annotation names each VF, the one
// the kubelet allocated. After the pods are gone every VF is as found and the
// kubelet holds no device for them.
func TestKernelVF(t *testing.T) {
	nodeUp(t)
	before := nodeVFs(t)
	createNAD(t, "kernel-vlan200", netdevRes, `{
		"cniVersion": "1.0.0", "name": "kernel-vlan200", "type": "fastpath", "vlan": 200,
		"ipam": {"type": "host-local", "subnet": "10.100.0.0/24", "rangeStart": "10.100.0.251", "rangeEnd": "10.100.0.254"}}`)

	macs := map[string]string{"vf-a": "02:00:00:00:64:0a", "vf-b": "02:00:00:00:64:0b"}
	pods := runPods(t,
		podSpec("vf-a", `[{"name":"sriov-vlan100","interface":"net1","mac":"02:00:00:00:64:0a"}]`, netdevRes),
		podSpec("vf-b", `[{"name":"sriov-vlan100","interface":"net1","mac":"02:00:00:00:64:0b"}]`, netdevRes),
		podSpec("vf-c", `[{"name":"kernel-vlan200","interface":"net1"}]`, netdevRes))

	alloc := allocated(t)
	during := nodeVFs(t)
	ips := map[string]string{}
	pids := map[string]string{}
	for _, name := range []string{"vf-a", "vf-b", "vf-c"} {
		pod := pods[name]
		network := "default/sriov-vlan100"
		if name == "vf-c" {
			network = "default/kernel-vlan200"
		}
		st := vfStatus(t, pod, network)
		pci := st.DeviceInfo.Pci.PciAddress
		if got := alloc[name][netdevRes]; !reflect.DeepEqual(got, []string{pci}) {
			t.Errorf("pod %s: kubelet allocated %v, network-status names %s", name, got, pci)
		}
		vf := vfByPCI(t, during, pci)
		if vf.Netdev != "" {
			t.Errorf("pod %s: VF %s netdev %s still in the node's namespace", name, pci, vf.Netdev)
		}
		wantVLAN := 100
		if name == "vf-c" {
			wantVLAN = 200
		}
		if vf.Table.Vlan != wantVLAN {
			t.Errorf("pod %s: VF %s VLAN %d on the PF, want %d", name, pci, vf.Table.Vlan, wantVLAN)
		}
		pids[name] = podPID(t, string(pod.UID))
		out, err := inPod(pids[name], "/sbin/ip", "-o", "addr", "show", "dev", "net1")
		if err != nil {
			t.Fatalf("pod %s: ip addr: %v: %s", name, err, out)
		}
		if len(st.IPs) != 1 || !strings.Contains(out, " "+st.IPs[0]+"/24 ") {
			t.Errorf("pod %s: net1 %q, network-status IPs %v", name, out, st.IPs)
		} else {
			ips[name] = st.IPs[0]
		}
		if want, ok := macs[name]; ok {
			if st.Mac != want || vf.Table.Mac.String() != want {
				t.Errorf("pod %s: MAC %s in network-status, %s on the PF, want %s", name, st.Mac, vf.Table.Mac, want)
			}
			// Through netlink in the pod's namespace: /sys is the node's.
			link, err := inPod(pids[name], "/sbin/ip", "-o", "link", "show", "dev", "net1")
			if err != nil || !strings.Contains(link, "link/ether "+want+" ") {
				t.Errorf("pod %s: net1 %q (%v), want MAC %s", name, link, err, want)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// igbvf brings the link up a moment after the move: allow a few tries.
	waitFor(t, "vf-a pings vf-b over VLAN 100", time.Minute, func() (bool, error) {
		out, err := inPod(pids["vf-a"], "ping", "-c", "2", "-W", "2", ips["vf-b"])
		if err == nil {
			return true, nil
		}
		// What the PF and both pods show, for the failure message.
		pf, _ := exec.Command("ip", "link", "show", pfName).CombinedOutput()
		a, _ := inPod(pids["vf-a"], "/sbin/ip", "-d", "addr", "show", "dev", "net1")
		n, _ := inPod(pids["vf-a"], "/sbin/ip", "neigh")
		b, _ := inPod(pids["vf-b"], "/sbin/ip", "-s", "link", "show", "dev", "net1")
		// igbvf's own account: a VF that missed the PF's reset answer says so.
		klog, _ := exec.Command("dmesg").Output()
		var vfLog []string
		for _, l := range strings.Split(string(klog), "\n") {
			if strings.Contains(l, "igbvf") {
				vfLog = append(vfLog, l)
			}
		}
		if len(vfLog) > 12 {
			vfLog = vfLog[len(vfLog)-12:]
		}
		return false, fmt.Errorf("%v: %s\nPF: %s\nvf-a: %s%s\nvf-b: %s\nkernel: %s", err, out, pf, a, n, b, strings.Join(vfLog, "\n"))
	})
	if out, err := inPod(pids["vf-b"], "ping", "-c", "2", "-W", "2", ips["vf-a"]); err != nil {
		t.Errorf("vf-b cannot ping vf-a: %v: %s", err, out)
	}
	for _, peer := range []string{"vf-a", "vf-b"} {
		if out, err := inPod(pids["vf-c"], "ping", "-c", "3", "-W", "2", ips[peer]); err == nil {
			t.Errorf("vf-c on VLAN 200 reached %s on VLAN 100: %s", peer, out)
		}
	}

	deletePods(t, "vf-a", "vf-b", "vf-c")
	vfsAsFound(t, before, 2*time.Minute)
	waitFor(t, "kubelet holds no device for the pods", time.Minute, func() (bool, error) {
		a := allocated(t)
		for _, n := range []string{"vf-a", "vf-b", "vf-c"} {
			if len(a[n]) > 0 {
				return false, fmt.Errorf("pod %s still holds %v", n, a[n])
			}
		}
		return true, nil
	})
	n, err := cs.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if q := n.Status.Allocatable[corev1.ResourceName(netdevRes)]; q.Value() != 4 {
		t.Errorf("allocatable %s %s after the pods, want 4", netdevRes, q.String())
	}
}
