// Command cluster runs the one-node Kubernetes test bed (make cluster, through
// test/cluster/run.sh): the control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) on this machine's loopback, the
// NetworkAttachmentDefinition CRD and the project's deployments/ applied
// through the API server, then the node: the emulated SR-IOV guest
// (test/vm/run.sh) running test/cluster/node.sh, which joins the cluster and
// runs the scenarios. It reports how long each stage took and exits with the
// guest's exit code.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
)

func main() {
	bin := flag.String("bin", "", "directory of build.sh's binaries")
	node := flag.String("node", "", "directory of the node's files (copied into the guest's /opt/bin); kubeconfig written here")
	repo := flag.String("repo", "", "the project's checkout (deployments/, test/vm)")
	work := flag.String("work", "", "work directory for the control plane's state and logs")
	// Below 2816 MB (2.75 GiB). With 3072 or 4096 MB the emulated igb PF does not answer a
	// VF's reset in time: igbvf logs "PF still resetting" and the VF never gets a carrier,
	// so no VF-to-VF traffic; with 1024, 2048 and 2560 MB it does. From 2.75 GiB on, q35
	// maps the RAM beyond 2 GiB above 4 GiB: the likely difference, not proven.
	mem := flag.Int("mem", 2560, "guest memory in MB")
	timeout := flag.Int("timeout", 2400, "guest timeout in seconds")
	flag.Parse()
	c := &cluster{bin: *bin, node: *node, repo: *repo, work: *work}
	rc, err := c.run(*mem, *timeout, flag.Args())
	c.stop()
	if err != nil {
		slog.Error("cluster", "err", err)
		c.tails()
		os.Exit(1)
	}
	os.Exit(rc)
}

type cluster struct {
	bin, node, repo, work string
	procs                 []*exec.Cmd
	logs                  []string
}

// stage runs f and reports its duration.
func stage(name string, f func() error) error {
	start := time.Now()
	err := f()
	fmt.Printf("cluster: stage %-24s %6.1fs\n", name, time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (c *cluster) run(mem, timeout int, testArgs []string) (int, error) {
	var (
		hostKC *rest.Config
		rc     int
	)
	err := stage("control plane up", func() (err error) {
		hostKC, err = c.controlPlane()
		return err
	})
	if err != nil {
		return 1, err
	}
	err = stage("deployments applied", func() error {
		return c.apply(hostKC, []string{
			filepath.Join(c.repo, "test/cluster/manifests"),
			filepath.Join(c.repo, "deployments/sriovdp"),
			filepath.Join(c.repo, "deployments/fastpath"),
			filepath.Join(c.repo, "deployments/networks"),
		})
	})
	if err != nil {
		return 1, err
	}
	err = stage("node and scenarios", func() error {
		args := append([]string{"--timeout", fmt.Sprint(timeout), "--mem", fmt.Sprint(mem), c.node, "--", "sh", "/opt/bin/node.sh"}, testArgs...)
		cmd := exec.Command(filepath.Join(c.repo, "test/vm/run.sh"), args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), "FASTPATH_VM_HOST_BINS=/usr/sbin/runc")
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			rc = ee.ExitCode()
			return nil
		}
		return err
	})
	return rc, err
}

// freePort asks the kernel for a free port of the loopback: other test beds
// share this machine.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *cluster) start(name string, args ...string) error {
	logPath := filepath.Join(c.work, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("log of %s: %w", name, err)
	}
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so that stop ends it and nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	f.Close()
	c.procs = append(c.procs, cmd)
	c.logs = append(c.logs, logPath)
	return nil
}

func (c *cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

// tails prints the end of each control-plane log after a failure.
func (c *cluster) tails() {
	for _, l := range c.logs {
		b, _ := os.ReadFile(l)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		fmt.Printf("=== tail %s\n%s\n", l, b)
	}
}

// controlPlane starts etcd and the three control-plane components and writes
// the kubeconfigs: host.kubeconfig (127.0.0.1) in work, node.kubeconfig
// (10.0.2.2, the host's loopback as the guest reaches it) in node.
func (c *cluster) controlPlane() (*rest.Config, error) {
	pki := filepath.Join(c.work, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return nil, fmt.Errorf("pki dir: %w", err)
	}
	// Serving certificate of the API server (with its CA in the same bundle) for
	// both addresses it is reached at.
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("fastpath-apiserver",
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.2.2"), net.ParseIP("10.96.0.1")}, []string{"localhost", "kubernetes.default.svc"})
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	token := hex.EncodeToString(tok)
	files := map[string][]byte{
		"apiserver.crt": certPEM,
		"apiserver.key": keyPEM,
		"sa.key":        pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}),
		// One identity for every client of the test bed: an administrator.
		"tokens.csv": []byte(token + ",fastpath-admin,fastpath-admin,system:masters\n"),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(pki, n), b, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", n, err)
		}
	}
	ports := make([]int, 5)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	api := ports[2]
	kc := func(server string) *clientcmdapi.Config {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["fastpath"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: certPEM}
		cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
		cfg.Contexts["fastpath"] = &clientcmdapi.Context{Cluster: "fastpath", AuthInfo: "admin"}
		cfg.CurrentContext = "fastpath"
		return cfg
	}
	hostKCPath := filepath.Join(c.work, "host.kubeconfig")
	if err := clientcmd.WriteToFile(*kc(fmt.Sprintf("https://127.0.0.1:%d", api)), hostKCPath); err != nil {
		return nil, fmt.Errorf("host kubeconfig: %w", err)
	}
	if err := clientcmd.WriteToFile(*kc(fmt.Sprintf("https://10.0.2.2:%d", api)), filepath.Join(c.node, "node.kubeconfig")); err != nil {
		return nil, fmt.Errorf("node kubeconfig: %w", err)
	}

	if err := c.start("etcd", "--data-dir", filepath.Join(c.work, "etcd"), "--name", "default",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL,
		// Test data: speed over durability.
		"--unsafe-no-fsync", "--log-level", "warn"); err != nil {
		return nil, err
	}
	p := func(n string) string { return filepath.Join(pki, n) }
	if err := c.start("kube-apiserver", "--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(api),
		// The address the node reaches the API server at; no Service endpoints
		// are kept for it (nothing in the test bed uses the kubernetes Service).
		"--advertise-address", "10.0.2.2", "--endpoint-reconciler-type", "none",
		"--cert-dir", filepath.Join(c.work, "apiserver"),
		"--tls-cert-file", p("apiserver.crt"), "--tls-private-key-file", p("apiserver.key"),
		"--token-auth-file", p("tokens.csv"), "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p("sa.key"), "--service-account-signing-key-file", p("sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/24", "--allow-privileged"); err != nil {
		return nil, err
	}
	if err := c.start("kube-controller-manager", "--kubeconfig", hostKCPath,
		"--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(ports[3]),
		"--leader-elect=false", "--use-service-account-credentials=false",
		"--service-account-private-key-file", p("sa.key"), "--root-ca-file", p("apiserver.crt")); err != nil {
		return nil, err
	}
	if err := c.start("kube-scheduler", "--kubeconfig", hostKCPath,
		"--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(ports[4]), "--leader-elect=false"); err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", hostKCPath)
	if err != nil {
		return nil, fmt.Errorf("host kubeconfig: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		body, err := dc.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("API server not ready: %w (last: %v)", ctx.Err(), err)
		}
		time.Sleep(time.Second)
	}
	// Pods in "default" need its ServiceAccount, which the controller manager makes.
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	sa := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}).Namespace("default")
	for {
		if _, err := sa.Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no default ServiceAccount: %w", ctx.Err())
		}
		time.Sleep(time.Second)
	}
	return cfg, nil
}

// apply creates every object of the YAML files in dirs, in order, as kubectl
// create -f does: the manifests reach the API server unchanged.
func (c *cluster) apply(cfg *rest.Config, dirs []string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	ctx := context.Background()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return fmt.Errorf("list %s: %w", dir, err)
		}
		for _, f := range files {
			if err := applyFile(ctx, dc, dyn, f); err != nil {
				return err
			}
		}
	}
	return nil
}

func applyFile(ctx context.Context, dc discovery.DiscoveryInterface, dyn dynamic.Interface, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open manifest: %w", err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode %s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		gvk := u.GroupVersionKind()
		// A kind of a CRD created just before is served within seconds: map
		// each object with fresh discovery until it is.
		var m *meta.RESTMapping
		for try := 0; ; try++ {
			groups, err := restmapper.GetAPIGroupResources(dc)
			if err != nil {
				return fmt.Errorf("discovery: %w", err)
			}
			m, err = restmapper.NewDiscoveryRESTMapper(groups).RESTMapping(gvk.GroupKind(), gvk.Version)
			if err == nil {
				break
			}
			if try == 30 {
				return fmt.Errorf("%s: kind %s: %w", path, gvk, err)
			}
			time.Sleep(time.Second)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		if _, err := ri.Create(ctx, &u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("%s: create %s %s/%s: %w", path, gvk.Kind, u.GetNamespace(), u.GetName(), err)
		}
		fmt.Printf("cluster: created %s %s/%s\n", gvk.Kind, u.GetNamespace(), u.GetName())
	}
}
