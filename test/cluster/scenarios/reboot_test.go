//go:build cluster

package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// killAll SIGKILLs every process whose command name is in names or that runs
// in a pod's cgroup.
func killAll(t *testing.T, names ...string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range procs {
		dir := filepath.Dir(p)
		comm, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cg, _ := os.ReadFile(filepath.Join(dir, "cgroup"))
		if slices.Contains(names, strings.TrimSpace(string(comm))) || strings.Contains(string(cg), "/kubepods") {
			pid, _ := strconv.Atoi(filepath.Base(dir))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder unmounts every mount point below the prefixes, the deepest
// first.
func unmountUnder(t *testing.T, prefixes ...string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var points []string
	for _, l := range strings.Split(string(b), "\n") {
		// Field 5 is the mount point.
		if f := strings.Fields(l); len(f) > 4 && slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(f[4], p) }) {
			points = append(points, f[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, m := range points {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", m, err)
		}
	}
}

// TestNodeReboot: the node "reboots" with two pods on VFs: the kubelet,
// containerd, the shims and every pod process are killed, the pods' network
// namespaces and /run's runtime state are gone; one pod is deleted from the
// API meanwhile. Both daemons start again: the kept pod runs again on a VF of
// VLAN 100, its network-status naming the VF (fastpath's own device-info
// file: the device plugin's went with /run), or the kubelet fails it (see
// below); the deleted pod's VF is put back (by the runtime's cleanup of its
// dead sandbox), and after the kept pod is deleted every VF is as found.
func TestNodeReboot(t *testing.T) {
	nodeUp(t)
	ctx := context.Background()
	before := nodeVFs(t)
	pods := runPods(t,
		podSpec("vf-keep", `[{"name":"sriov-vlan100","interface":"net1"}]`, netdevRes),
		podSpec("vf-gone", `[{"name":"sriov-vlan100","interface":"net1"}]`, netdevRes))
	oldUID := string(pods["vf-keep"].UID)

	crash(t, "kubelet", "containerd", "containerd-shim-runc-v2")
	if err := cs.CoreV1().Pods("default").Delete(ctx, "vf-gone", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatalf("delete vf-gone while the node is down: %v", err)
	}
	start(t, "containerd", "kubelet")
	restarted := time.Now()
	nodeReady(t)
	// The kubelet admits its pods again when it starts, and may do so before
	// the device plugin has registered again: then it fails vf-keep
	// (UnexpectedAdmissionError, as on a real node's reboot) instead of giving
	// it a new sandbox. Either way its old sandbox's VF must come back.
	// Which way a run goes is a race; TestRuntimeRestart always takes the
	// new-sandbox way.
	var kept bool
	waitFor(t, "vf-keep running again in a new sandbox, or failed by the kubelet", 5*time.Minute, func() (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "vf-keep", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase == corev1.PodFailed {
			t.Logf("vf-keep failed by the kubelet: %s: %s", p.Status.Reason, p.Status.Message)
			return true, nil
		}
		kept, err = backOnVF(t, p, oldUID)
		return kept, err
	})
	if kept {
		t.Logf("vf-keep back on its VF %.1fs after the daemons restarted", time.Since(restarted).Seconds())
	}

	deletePods(t, "vf-keep")
	vfsAsFound(t, before, 3*time.Minute)
}

// crash kills the daemons and every pod process and clears what a reboot
// clears: the mounts in /run (the namespaces' bind mounts, the sandboxes'
// shm), the runtime's state there and the device plugin's device-info files.
func crash(t *testing.T, daemons ...string) {
	t.Helper()
	killAll(t, daemons...)
	time.Sleep(2 * time.Second)
	killAll(t) // pod processes the shims' death left behind
	unmountUnder(t, "/run/netns/", "/run/containerd/")
	nss, _ := filepath.Glob("/run/netns/*")
	for _, ns := range nss {
		_ = os.Remove(ns)
	}
	for _, d := range []string{"/run/containerd", "/run/k8s.cni.cncf.io"} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatalf("remove %s: %v", d, err)
		}
	}
}

// start starts the node's daemons again, in order (node.sh start-<daemon>).
func start(t *testing.T, daemons ...string) {
	t.Helper()
	for _, d := range daemons {
		if out, err := exec.Command("sh", "/opt/bin/node.sh", "start-"+d).CombinedOutput(); err != nil {
			t.Fatalf("node.sh start-%s: %v: %s", d, err, out)
		}
	}
}

// backOnVF tells whether the pod of uid runs in a new sandbox on a VF of
// VLAN 100: a process of the pod (the old ones were killed), net1 in its
// namespace, the VF that its network-status names, and the device-info file
// of that VF, which only fastpath can have written since crash removed the
// device plugin's.
func backOnVF(t *testing.T, p *corev1.Pod, uid string) (bool, error) {
	t.Helper()
	pci, err := networkNet1(p)
	if err != nil || p.Status.Phase != corev1.PodRunning {
		return false, fmt.Errorf("phase %s, net1 %v", p.Status.Phase, err)
	}
	pid, ok := findPodPID(uid)
	if !ok {
		return false, fmt.Errorf("no process of the pod yet")
	}
	if out, err := inPod(pid, "/sbin/ip", "link", "show", "net1"); err != nil {
		return false, fmt.Errorf("net1 in the new sandbox: %v %s", err, out)
	}
	if vf := vfByPCI(t, nodeVFs(t), pci); vf.Table.Vlan != 100 {
		return false, fmt.Errorf("VF %s on VLAN %d", pci, vf.Table.Vlan)
	}
	files, _ := filepath.Glob("/run/k8s.cni.cncf.io/devinfo/cni/*")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), `"pci-address":"`+pci+`"`) {
			return true, nil
		}
	}
	return false, fmt.Errorf("no device-info file names %s in %v", pci, files)
}

// TestRuntimeRestart: containerd dies with its shims and the pods' processes,
// and the runtime's state in /run and the device plugin's device-info files
// go too; the kubelet lives on. Once containerd is back, the kubelet gives
// the pod a new sandbox on the VF it holds (the device manager's allocation
// stands): the old sandbox's DEL and the new one's ADD meet on one VF, as
// they do after a reboot when the device plugin registers in time (which
// TestNodeReboot cannot force). After the pod is deleted every VF is as found.
func TestRuntimeRestart(t *testing.T) {
	nodeUp(t)
	ctx := context.Background()
	before := nodeVFs(t)
	pods := runPods(t, podSpec("vf-restart", `[{"name":"sriov-vlan100","interface":"net1"}]`, netdevRes))
	uid := string(pods["vf-restart"].UID)
	crash(t, "containerd", "containerd-shim-runc-v2")
	start(t, "containerd")
	started := time.Now()
	waitFor(t, "vf-restart running again in a new sandbox on its VF", 5*time.Minute, func() (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "vf-restart", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return backOnVF(t, p, uid)
	})
	t.Logf("vf-restart back on its VF %.1fs after containerd restarted", time.Since(started).Seconds())
	deletePods(t, "vf-restart")
	vfsAsFound(t, before, 3*time.Minute)
}
