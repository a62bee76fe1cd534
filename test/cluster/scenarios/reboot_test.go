//go:build cluster

package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
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
// VLAN 100 or the kubelet fails it (see below), the deleted pod's VF is put
// back (by the runtime's cleanup of its dead sandbox), and after the kept pod
// is deleted every VF is as found.
func TestNodeReboot(t *testing.T) {
	nodeUp(t)
	ctx := context.Background()
	before := nodeVFs(t)
	pods := runPods(t,
		podSpec("vf-keep", `[{"name":"sriov-vlan100","interface":"net1"}]`, netdevRes),
		podSpec("vf-gone", `[{"name":"sriov-vlan100","interface":"net1"}]`, netdevRes))
	oldUID := string(pods["vf-keep"].UID)

	killAll(t, "kubelet", "containerd", "containerd-shim-runc-v2")
	time.Sleep(2 * time.Second)
	killAll(t) // pod processes the shims' death left behind
	// What a reboot clears: the mounts in /run (the namespaces' bind mounts,
	// the sandboxes' shm) and the runtime state there.
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
	if err := cs.CoreV1().Pods("default").Delete(ctx, "vf-gone", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatalf("delete vf-gone while the node is down: %v", err)
	}
	for _, sub := range []string{"start-containerd", "start-kubelet"} {
		if out, err := exec.Command("sh", "/opt/bin/node.sh", sub).CombinedOutput(); err != nil {
			t.Fatalf("node.sh %s: %v: %s", sub, err, out)
		}
	}
	start := time.Now()
	nodeReady(t)
	// The kubelet admits its pods again when it starts, and may do so before
	// the device plugin has registered again: then it fails vf-keep
	// (UnexpectedAdmissionError, as on a real node's reboot) instead of giving
	// it a new sandbox. Either way its old sandbox's VF must come back.
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
		st, err := networkNet1(p)
		if err != nil || p.Status.Phase != corev1.PodRunning {
			return false, fmt.Errorf("phase %s, net1 %v", p.Status.Phase, err)
		}
		// Processes of the pod again: its new sandbox (and net1 in it).
		pid, ok := findPodPID(oldUID)
		if !ok {
			return false, fmt.Errorf("no process of the pod yet")
		}
		vf := vfByPCI(t, nodeVFs(t), st)
		out, err := inPod(pid, "/sbin/ip", "link", "show", "net1")
		kept = err == nil && vf.Table.Vlan == 100
		return kept, fmt.Errorf("VLAN %d, net1: %v %s", vf.Table.Vlan, err, out)
	})
	if kept {
		t.Logf("vf-keep back on its VF %.1fs after the daemons restarted", time.Since(start).Seconds())
	}

	deletePods(t, "vf-keep")
	waitFor(t, "every VF as found", 3*time.Minute, func() (bool, error) {
		if now := nodeVFs(t); !reflect.DeepEqual(now, before) {
			return false, fmt.Errorf("before %+v\nnow %+v", before, now)
		}
		return true, nil
	})
}
