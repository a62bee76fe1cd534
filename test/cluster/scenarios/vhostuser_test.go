//go:build cluster

package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// provisionedDir is where the scenario's "switch" keeps its sockets: on the
// same filesystem (/run) as the node's podsDir, since fastpath hard-links a
// provisioned socket into the pod's directory.
const provisionedDir = "/var/run/vhost-provisioned"

// allowProvisioned lists dir in the node file's vhostuser.provisionedDirs as an
// operator does: the fastpath-node ConfigMap edited, the DaemonSet's pod
// restarted so that its init container installs the new node file. The
// original ConfigMap comes back at the end the same way.
func allowProvisioned(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("kube-system")
	cm, err := cms.Get(ctx, "fastpath-node", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orig := cm.Data["node.json"]
	var nodeFile map[string]any
	if err := json.Unmarshal([]byte(orig), &nodeFile); err != nil {
		t.Fatalf("fastpath-node node.json: %v", err)
	}
	vu, _ := nodeFile["vhostuser"].(map[string]any)
	if vu == nil {
		vu = map[string]any{}
		nodeFile["vhostuser"] = vu
	}
	vu["provisionedDirs"] = []string{dir}
	b, err := json.Marshal(nodeFile)
	if err != nil {
		t.Fatal(err)
	}
	install := func(data string) {
		cm, err := cms.Get(ctx, "fastpath-node", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["node.json"] = data
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update fastpath-node: %v", err)
		}
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=fastpath"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if err := cs.CoreV1().Pods("kube-system").Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("restart %s: %v", p.Name, err)
			}
		}
		var want any
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "node file installed by the DaemonSet", 5*time.Minute, func() (bool, error) {
			b, err := os.ReadFile("/etc/fastpath/node.json")
			if err != nil {
				return false, err
			}
			var got any
			if err := json.Unmarshal(b, &got); err != nil {
				return false, err
			}
			return fmt.Sprint(got) == fmt.Sprint(want), fmt.Errorf("node.json %s", b)
		})
	}
	install(string(b))
	t.Cleanup(func() { install(orig) })
}

// TestVhostUserProvisioned: a pod on a vhost-user network with the
// provisioned backend finds the socket that the node's switch provisioned in
// its own directory, mounted from podsDir with subPathExpr $(POD_UID) as
// deployments/examples/pod-dpdk-vhostuser.yaml does, beside net1.json with
// its MAC and address; connecting there reaches the switch's socket. After
// the pod is gone its directory is gone and the switch's socket is untouched.
func TestVhostUserProvisioned(t *testing.T) {
	nodeUp(t)
	if err := os.MkdirAll(provisionedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(provisionedDir, "vhu0.sock")
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	allowProvisioned(t, provisionedDir)
	createNAD(t, "vhost-provisioned", "", fmt.Sprintf(`{
		"cniVersion": "1.1.0", "name": "vhost-provisioned", "type": "fastpath", "mode": "vhostuser",
		"deviceID": %q, "vhostuser": {"backend": "provisioned"},
		"ipam": {"type": "host-local", "subnet": "10.99.0.0/24"}}`, sock))

	p := podSpec("vhost", `[{"name":"vhost-provisioned","interface":"net1","mac":"02:00:00:00:99:01"}]`, "")
	c := &p.Spec.Containers[0]
	c.Env = []corev1.EnvVar{{Name: "POD_UID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "vhostuser", MountPath: "/var/run/vhostuser", SubPathExpr: "$(POD_UID)"}}
	dirType := corev1.HostPathDirectory
	p.Spec.Volumes = []corev1.Volume{{Name: "vhostuser", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/fastpath/pods", Type: &dirType}}}}
	pod := runPods(t, p)["vhost"]
	pid, uid := appPID(t, string(pod.UID), "POD_UID")
	if uid != string(pod.UID) {
		t.Errorf("POD_UID=%q, pod UID %s", uid, pod.UID)
	}
	inPodDir := filepath.Join("/proc", pid, "root", "var/run/vhostuser")
	ents, err := os.ReadDir(inPodDir)
	if err != nil {
		t.Fatalf("the pod's /var/run/vhostuser: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"net1.json", "net1.sock"}) {
		t.Errorf("the pod's /var/run/vhostuser holds %v, want net1.json and net1.sock", names)
	}
	b, err := os.ReadFile(filepath.Join(inPodDir, "net1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		Socket, MAC string
		IPs         []string
	}
	if err := json.Unmarshal(b, &app); err != nil {
		t.Fatalf("net1.json %s: %v", b, err)
	}
	if app.Socket != "net1.sock" || app.MAC != "02:00:00:00:99:01" || len(app.IPs) != 1 || !strings.HasPrefix(app.IPs[0], "10.99.0.") {
		t.Errorf("net1.json %s: want socket net1.sock, the pod's MAC and an address of 10.99.0.0/24", b)
	}
	// The pod's net1.sock is the switch's socket: a connection there is
	// accepted by the switch's listener.
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	conn, err := net.Dial("unix", filepath.Join(inPodDir, "net1.sock"))
	if err != nil {
		t.Fatalf("connect to the pod's net1.sock: %v", err)
	}
	conn.Close()
	select {
	case err := <-accepted:
		if err != nil {
			t.Errorf("the switch's socket: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("a connection to the pod's net1.sock did not reach the switch's socket")
	}

	podDir := filepath.Join("/var/run/fastpath/pods", string(pod.UID))
	deletePods(t, "vhost")
	waitFor(t, "the pod's directory gone", time.Minute, func() (bool, error) {
		_, err := os.Stat(podDir)
		return os.IsNotExist(err), fmt.Errorf("%s: %v", podDir, err)
	})
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("the switch's socket after the pod: %v %v", fi, err)
	}
}
