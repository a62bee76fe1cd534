package dpdk

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastpath-cni/fastpath/test/needs"
)

// The tests run against a real ovsdb-server: each test gets its own
// database, created from the installed Open vSwitch schema, and its own
// server, a child process killed at cleanup. No ovs-vswitchd runs, so
// ovs-vsctl is always called with --no-wait.

const systemSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// ovsTool finds an Open vSwitch program, in PATH or the sbin folders that a
// non-root PATH may lack. A missing one fails the test: CI installs them.
// Each caller runs an ovsdb-server, which `make unit` does not.
func ovsTool(t testing.TB, name string) string {
	t.Helper()
	needs.Daemon(t, "ovsdb-server")
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatalf("%s not found in PATH nor /usr/sbin: these tests need a real ovsdb-server "+
		"(apt-get install openvswitch-switch, or openvswitch-switch-dpdk)", name)
	return ""
}

type ovsdbServer struct {
	dir      string
	sock     string
	endpoint string // unix:SOCK
	cmd      *exec.Cmd
	exited   chan struct{}
	stderr   *syncBuffer
	vsctlBin string
	env      []string
}

// startOVSDB starts an ovsdb-server on a fresh database, initialized by
// ovs-vsctl with bridge br0 (datapath_type=netdev).
func startOVSDB(t testing.TB) *ovsdbServer {
	t.Helper()
	server := ovsTool(t, "ovsdb-server")
	tool := ovsTool(t, "ovsdb-tool")
	vsctl := ovsTool(t, "ovs-vsctl")
	if _, err := os.Stat(systemSchema); err != nil {
		t.Fatalf("Open vSwitch schema missing (%v): install openvswitch-common", err)
	}

	// A short path: a unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "fpovsdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	s := &ovsdbServer{
		dir:      dir,
		sock:     filepath.Join(dir, "db.sock"),
		stderr:   &syncBuffer{},
		vsctlBin: vsctl,
		// Keep the OVS programs away from /var/run/openvswitch.
		env: append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_LOGDIR="+dir, "OVS_DBDIR="+dir, "OVS_SYSCONFDIR="+dir),
	}
	s.endpoint = "unix:" + s.sock

	db := filepath.Join(dir, "conf.db")
	if out, err := exec.Command(tool, "create", db, systemSchema).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v: %s", err, out)
	}
	s.cmd = exec.Command(server, db,
		"--remote=punix:"+s.sock,
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"-vconsole:warn", "-vsyslog:off", "-vfile:off")
	s.cmd.Env = s.env
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start ovsdb-server: %v", err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func() { s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-exited
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", s.sock)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("ovsdb-server exited: %v: %s", s.cmd.ProcessState, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ovsdb-server socket %s not up after 10s: %v: %s", s.sock, err, s.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}

	s.vsctl(t, "init")
	s.vsctl(t, "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
	return s
}

// kill stops the server at once, leaving its socket file behind.
func (s *ovsdbServer) kill(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited
}

// vsctl runs ovs-vsctl against the test server and returns its output,
// trimmed.
func (s *ovsdbServer) vsctl(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.vsctlBin, append([]string{"--db=" + s.endpoint, "--no-wait", "--timeout=10"}, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// get is `ovs-vsctl get TABLE RECORD COLUMN[:KEY]` with a quoted string
// value unquoted.
func (s *ovsdbServer) get(t testing.TB, table, record, column string) string {
	t.Helper()
	v := s.vsctl(t, "get", table, record, column)
	if strings.HasPrefix(v, `"`) {
		u, err := strconv.Unquote(v)
		if err != nil {
			t.Fatalf("ovs-vsctl get %s %s %s: cannot unquote %s: %v", table, record, column, v, err)
		}
		return u
	}
	return v
}

func (s *ovsdbServer) dial(t testing.TB) *OVS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := Dial(ctx, s.endpoint)
	if err != nil {
		t.Fatalf("Dial %s: %v", s.endpoint, err)
	}
	t.Cleanup(o.Close)
	return o
}

// syncBuffer collects the server's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
