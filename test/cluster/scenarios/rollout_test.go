//go:build cluster

package scenarios

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestDaemonSetRollout: the fastpath DaemonSet is rolled to a new image while
// a pod holds a VF; the pod keeps its VF and settings, and its later deletion
// restores the VF as found.
func TestDaemonSetRollout(t *testing.T) {
	nodeUp(t)
	ctx := context.Background()
	before := nodeVFs(t)
	pod := runPods(t, podSpec("vf-roll", `[{"name":"sriov-vlan100","interface":"net1"}]`, netdevRes))["vf-roll"]
	pci := vfStatus(t, pod, "default/sriov-vlan100").DeviceInfo.Pci.PciAddress
	pid := podPID(t, string(pod.UID))

	ds, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "fastpath", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const next = "ghcr.io/fastpath-cni/fastpath:next"
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"initContainers":[{"name":"install","image":%q}],"containers":[{"name":"idle","image":%q}]}}}}`, next, next)
	if _, err := cs.AppsV1().DaemonSets("kube-system").Patch(ctx, "fastpath", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("roll the DaemonSet: %v", err)
	}
	t.Cleanup(func() {
		restore := fmt.Sprintf(`{"spec":{"template":{"spec":{"initContainers":[{"name":"install","image":%q}],"containers":[{"name":"idle","image":%q}]}}}}`,
			ds.Spec.Template.Spec.InitContainers[0].Image, ds.Spec.Template.Spec.Containers[0].Image)
		_, _ = cs.AppsV1().DaemonSets("kube-system").Patch(ctx, "fastpath", types.StrategicMergePatchType, []byte(restore), metav1.PatchOptions{})
	})
	waitFor(t, "DaemonSet rolled to "+next, 5*time.Minute, func() (bool, error) {
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=fastpath"})
		if err != nil {
			return false, err
		}
		if len(pods.Items) != 1 {
			return false, fmt.Errorf("%d fastpath pods", len(pods.Items))
		}
		p := pods.Items[0]
		if p.Spec.Containers[0].Image != next || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			return false, fmt.Errorf("pod %s image %s phase %s", p.Name, p.Spec.Containers[0].Image, p.Status.Phase)
		}
		return true, nil
	})

	vf := vfByPCI(t, nodeVFs(t), pci)
	if vf.Table.Vlan != 100 || vf.Netdev != "" {
		t.Errorf("after the rollout VF %s: VLAN %d, netdev %q on the node; want 100 and in the pod", pci, vf.Table.Vlan, vf.Netdev)
	}
	if out, err := inPod(pid, "/sbin/ip", "link", "show", "net1"); err != nil {
		t.Errorf("after the rollout the pod has no net1: %v: %s", err, out)
	}
	deletePods(t, "vf-roll")
	vfsAsFound(t, before, 2*time.Minute)
}
