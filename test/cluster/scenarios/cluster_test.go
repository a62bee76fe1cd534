//go:build cluster

// Package scenarios holds the cluster test bed's scenarios (make cluster). The
// test binary runs on the node, the emulated SR-IOV guest, after
// test/cluster/node.sh has joined it to the control plane on the host: it
// drives the cluster through the API server and looks at the node itself (the
// PF's VF table, the pods' network namespaces, the kubelet's pod-resources API).
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

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	podresources "k8s.io/kubelet/pkg/apis/podresources/v1"
)

const (
	nodeName    = "fastpath-node"
	pfName      = "ens785f0"
	kubeconfig  = "/opt/bin/node.kubeconfig"
	testImage   = "localhost/fastpath-test:latest"
	netdevRes   = "intel.com/sriov_netdevice"
	vfioRes     = "intel.com/sriov_vfio"
	podResSock  = "/var/lib/kubelet/pod-resources/kubelet.sock"
	networksKey = "k8s.v1.cni.cncf.io/networks"
)

var cs *kubernetes.Clientset

func TestMain(m *testing.M) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeconfig:", err)
		os.Exit(2)
	}
	// The guest is emulated: generous client timeouts.
	cfg.Timeout = time.Minute
	cs, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// waitFor polls cond every second until it returns true, an error, or the
// timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last error: %v)", what, timeout, last)
		}
		time.Sleep(time.Second)
	}
}

// nodeUp waits until the node is ready (nodeReady) and no VF is held by a
// pod of an earlier scenario. Every scenario starts here.
func nodeUp(t *testing.T) {
	t.Helper()
	start := time.Now()
	nodeReady(t)
	vfsFree(t)
	t.Logf("node ready, fastpath installed: %.1fs after the scenario started", time.Since(start).Seconds())
}

// vfsFree waits until no VF is held. A pod deleted with no grace period
// leaves the API server at once, before the kubelet has torn its sandbox
// down: what a scenario records as found, or times from, is the free node.
func vfsFree(t *testing.T) {
	t.Helper()
	waitFor(t, "every VF free", 3*time.Minute, func() (bool, error) {
		for id, vf := range nodeVFs(t) {
			if vf.Table.Vlan != 0 || (vf.Driver == "igbvf" && vf.Netdev == "") {
				return false, fmt.Errorf("VF %d (%s) held: VLAN %d, netdev %q", id, vf.PCI, vf.Table.Vlan, vf.Netdev)
			}
		}
		return true, nil
	})
}

// vfsAsFound waits until every VF is as the scenario found it (before, from
// nodeVFs): the PF's VF table, drivers, netdev names and MACs.
func vfsAsFound(t *testing.T, before map[int]vfState, timeout time.Duration) {
	t.Helper()
	waitFor(t, "every VF as found", timeout, func() (bool, error) {
		if now := nodeVFs(t); !reflect.DeepEqual(now, before) {
			return false, fmt.Errorf("before %+v\nnow %+v", before, now)
		}
		return true, nil
	})
}

// nodeReady waits until the node is Ready with both device pools advertised
// and the fastpath DaemonSet has installed the plugin.
func nodeReady(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "node Ready with the SR-IOV pools", 10*time.Minute, func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		a := n.Status.Allocatable
		nd, vf := a[corev1.ResourceName(netdevRes)], a[corev1.ResourceName(vfioRes)]
		if !ready || nd.Value() != 4 || vf.Value() != 3 {
			return false, fmt.Errorf("ready=%v %s=%s %s=%s", ready, netdevRes, nd.String(), vfioRes, vf.String())
		}
		return true, nil
	})
	waitFor(t, "fastpath DaemonSet ready", 10*time.Minute, func() (bool, error) {
		ds, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "fastpath", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if ds.Status.NumberReady != 1 {
			return false, fmt.Errorf("numberReady %d", ds.Status.NumberReady)
		}
		_, err = os.Stat("/opt/cni/bin/fastpath")
		return err == nil, err
	})
}

// podSpec is a pod of the test image that sleeps, on the networks of the
// annotation, requesting one device of res (none if empty).
func podSpec(name, networks, res string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name:  "app",
				Image: testImage,
				// Imported into containerd by node.sh; there is no registry.
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"},
			}},
		},
	}
	if networks != "" {
		p.Annotations = map[string]string{networksKey: networks}
	}
	if res != "" {
		q := corev1.ResourceList{corev1.ResourceName(res): resource.MustParse("1")}
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: q, Limits: q}
	}
	return p
}

// runPods creates the pods one after another, each once the one before runs,
// and reports each pod's time from creation to Running: one at a time, so
// that the time is the pod's own on the guest's single vCPU.
func runPods(t *testing.T, pods ...*corev1.Pod) map[string]*corev1.Pod {
	t.Helper()
	ctx := context.Background()
	out := map[string]*corev1.Pod{}
	for _, p := range pods {
		created := time.Now()
		if _, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.Name, err)
		}
		t.Cleanup(func() { deletePods(t, p.Name) })
		waitFor(t, "pod "+p.Name+" Running", 5*time.Minute, func() (bool, error) {
			got, err := cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if got.Status.Phase != corev1.PodRunning {
				return false, fmt.Errorf("phase %s, %s", got.Status.Phase, events(p.Name))
			}
			out[p.Name] = got
			return true, nil
		})
		t.Logf("pod %s: created to Running in %.1fs", p.Name, time.Since(created).Seconds())
	}
	return out
}

// events are the pod's recent events, for failure messages.
func events(pod string) string {
	evs, err := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range evs.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	if len(out) > 4 {
		out = out[len(out)-4:]
	}
	return strings.Join(out, "; ")
}

// deletePods deletes the pods and waits until the API server and the kubelet
// have let them go; deleting one that is gone is fine.
func deletePods(t *testing.T, names ...string) {
	t.Helper()
	ctx := context.Background()
	for _, n := range names {
		_ = cs.CoreV1().Pods("default").Delete(ctx, n, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	}
	for _, n := range names {
		waitFor(t, "pod "+n+" gone", 3*time.Minute, func() (bool, error) {
			_, err := cs.CoreV1().Pods("default").Get(ctx, n, metav1.GetOptions{})
			if err == nil {
				return false, fmt.Errorf("still there")
			}
			return strings.Contains(err.Error(), "not found"), err
		})
	}
}

// podPID is a process of the pod (found through its cgroup, which the
// cgroupfs driver names after the pod's UID), whose namespaces are the pod's.
func podPID(t *testing.T, uid string) string {
	t.Helper()
	pid, ok := findPodPID(uid)
	if !ok {
		t.Fatalf("no process of pod %s", uid)
	}
	return pid
}

// findPodPID is podPID for a caller that waits for the pod's processes.
func findPodPID(uid string) (string, bool) {
	key := "pod" + uid
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), key) {
			return filepath.Base(filepath.Dir(p)), true
		}
	}
	return "", false
}

// inPod runs a command in the pod's network namespace. Call iproute2 as
// /sbin/ip: busybox's nsenter runs its own applet for a bare "ip".
func inPod(pid string, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"-t", pid, "-n", "--"}, args...)...).CombinedOutput()
	return string(out), err
}

// allocated is what the kubelet's device manager has handed to each pod,
// from its pod-resources API: pod name -> resource -> device IDs.
func allocated(t *testing.T) map[string]map[string][]string {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+podResSock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("pod-resources socket: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := podresources.NewPodResourcesListerClient(conn).List(ctx, &podresources.ListPodResourcesRequest{})
	if err != nil {
		t.Fatalf("pod-resources List: %v", err)
	}
	out := map[string]map[string][]string{}
	for _, p := range resp.PodResources {
		for _, c := range p.Containers {
			for _, d := range c.Devices {
				if out[p.Name] == nil {
					out[p.Name] = map[string][]string{}
				}
				out[p.Name][d.ResourceName] = append(out[p.Name][d.ResourceName], d.DeviceIds...)
			}
		}
	}
	return out
}
