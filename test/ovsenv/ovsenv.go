// Package ovsenv runs a private Open vSwitch with DPDK (ovsdb-server and the DPDK build of
// ovs-vswitchd) on the test machine itself, and dpdk-testpmd processes that play a pod's
// DPDK application on vhost-user sockets, for vhost-user tests (and, without OVS, on a
// vfio-pci VF in the emulated SR-IOV guest: StartTestpmdPCI).
//
// Everything lives in a temp dir of its own: the database, its socket, the daemons' control
// sockets, pidfiles and logs, and OVS's run dir (OVS_RUNDIR), so several instances can run
// side by side and nothing of the distribution's OVS (/var/run/openvswitch, /etc/openvswitch)
// is touched. Both daemons and every testpmd are stopped by t.Cleanup.
//
// Needs root, 2 MB hugepages (Start reserves them and mounts hugetlbfs when none is mounted)
// and the Debian packages openvswitch-switch-dpdk and dpdk-dev (scripts/install-deps.sh). A
// missing package fails the test: it does not skip.
//
// CPU layout on a 2-core machine: OVS's main thread and DPDK lcore on CPU 0
// (dpdk-lcore-mask=0x1), its PMD thread on CPU 1 (pmd-cpu-mask=0x2), every testpmd on CPU 0
// (--lcores 0@0,1@0). The PMD sleeps up to 10 ms when idle (pmd-maxsleep=10000).
package ovsenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Paths of the Debian packages' files.
const (
	// VswitchdDPDK is the DPDK build of ovs-vswitchd (package openvswitch-switch-dpdk);
	// /usr/sbin/ovs-vswitchd is the build without DPDK.
	VswitchdDPDK = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
	// Schema is the Open_vSwitch database schema (package openvswitch-common).
	Schema = "/usr/share/openvswitch/vswitch.ovsschema"
	// HugepageMount is where Start mounts hugetlbfs when no 2 MB hugetlbfs is mounted.
	HugepageMount = "/dev/hugepages"

	nrHugepages = "/proc/sys/vm/nr_hugepages"
)

// OVS is one running ovsdb-server plus DPDK ovs-vswitchd.
type OVS struct {
	// Dir is the instance's temp dir (database, sockets, logs, OVS run dir).
	Dir string
	// DBSock is the database's unix socket: an OVSDB client connects to "unix:"+DBSock.
	DBSock string
	// CtlSock is ovs-vswitchd's control socket (ovs-appctl -t CtlSock).
	CtlSock string
	// DBCtlSock is ovsdb-server's control socket.
	DBCtlSock string
	// VswitchdLog and DBLog are the daemons' log files.
	VswitchdLog, DBLog string
	// StartupTime is how long ovs-vswitchd took from exec to dpdk_initialized=true.
	StartupTime time.Duration

	t      testing.TB
	prefix string // DPDK --file-prefix of ovs-vswitchd
	env    []string
	db     *daemon
	vsd    *daemon
	// logShown: the log's tail is already in the test output.
	logShown bool
}

type config struct {
	otherConfig  map[string]string
	order        []string
	hugepages    int
	startTimeout time.Duration
}

// Option changes what Start does.
type Option func(*config)

// WithOtherConfig sets (or overrides) one Open_vSwitch other_config key before ovs-vswitchd
// starts, e.g. WithOtherConfig("pmd-cpu-mask", "0x1").
func WithOtherConfig(key, value string) Option {
	return func(c *config) {
		if _, ok := c.otherConfig[key]; !ok {
			c.order = append(c.order, key)
		}
		c.otherConfig[key] = value
	}
}

// WithHugepages sets how many free 2 MB hugepages Start makes sure of before ovs-vswitchd
// starts (default 512: OVS's dpdk-socket-limit of 512 MB is 256 of them, the rest is for
// testpmds, about 20 each).
func WithHugepages(n int) Option { return func(c *config) { c.hugepages = n } }

// WithStartTimeout bounds the wait for DPDK to initialise (default 30 s).
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// DefaultOtherConfig is what Start sets in Open_vSwitch other_config (before the options).
// dpdk-extra also gets a --file-prefix of the instance's own.
var DefaultOtherConfig = [][2]string{
	{"dpdk-init", "true"},
	{"dpdk-socket-mem", "256"},
	{"dpdk-socket-limit", "512"},
	{"dpdk-lcore-mask", "0x1"},
	{"pmd-cpu-mask", "0x2"},
	{"dpdk-extra", "--no-pci"},
	{"pmd-maxsleep", "10000"},
}

// CheckPackages reports which of the programs and files ovsenv needs are missing, naming
// the Debian package that has them; nil when all are there.
func CheckPackages() error {
	var missing []string
	need := []struct{ file, pkg string }{
		{"ovsdb-tool", "openvswitch-common"},
		{"ovs-vsctl", "openvswitch-common"},
		{"ovs-appctl", "openvswitch-common"},
		{Schema, "openvswitch-common"},
		{"ovsdb-server", "openvswitch-switch"},
		{VswitchdDPDK, "openvswitch-switch-dpdk"},
		{"dpdk-testpmd", "dpdk-dev"},
	}
	for _, n := range need {
		var err error
		if filepath.IsAbs(n.file) {
			_, err = os.Stat(n.file)
		} else {
			_, err = lookPath(n.file)
		}
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (package %s)", n.file, n.pkg))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run scripts/install-deps.sh as root (installs openvswitch-switch-dpdk and dpdk-dev)",
			strings.Join(missing, ", "))
	}
	return nil
}

// lookPath finds a program on PATH or in the sbin dirs (which a non-login PATH may lack).
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// Start runs a private ovsdb-server and DPDK ovs-vswitchd and waits until DPDK is
// initialised. It fails the test (never skips) when something is missing or does not start.
func Start(t testing.TB, opts ...Option) *OVS {
	t.Helper()
	cfg := &config{otherConfig: map[string]string{}, hugepages: 512, startTimeout: 30 * time.Second}
	for _, kv := range DefaultOtherConfig {
		WithOtherConfig(kv[0], kv[1])(cfg)
	}
	for _, o := range opts {
		o(cfg)
	}
	if err := CheckPackages(); err != nil {
		t.Fatalf("ovsenv: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("ovsenv: needs root (hugepages, DPDK)")
	}
	if err := EnsureHugepages(cfg.hugepages); err != nil {
		t.Fatalf("ovsenv: %v", err)
	}

	// A short dir of its own (not t.TempDir: the test's name would make unix socket paths
	// longer than the 108 bytes of sun_path).
	dir, err := os.MkdirTemp("", "ovsenv-")
	if err != nil {
		t.Fatalf("ovsenv: %v", err)
	}
	o := &OVS{
		Dir:         dir,
		DBSock:      filepath.Join(dir, "db.sock"),
		CtlSock:     filepath.Join(dir, "ovs-vswitchd.ctl"),
		DBCtlSock:   filepath.Join(dir, "ovsdb-server.ctl"),
		VswitchdLog: filepath.Join(dir, "ovs-vswitchd.log"),
		DBLog:       filepath.Join(dir, "ovsdb-server.log"),
		t:           t,
		prefix:      "ovsenv-" + randHex(4),
	}
	// OVS_RUNDIR: bridges' OpenFlow sockets (BRIDGE.mgmt) and vhost-sock-dir go here.
	o.env = append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_LOGDIR="+dir, "OVS_DBDIR="+dir)
	t.Cleanup(o.cleanup)

	db := filepath.Join(dir, "conf.db")
	if out, err := o.run(10*time.Second, "ovsdb-tool", "create", db, Schema); err != nil {
		t.Fatalf("ovsenv: ovsdb-tool create: %v: %s", err, out)
	}
	o.db, err = startDaemon("ovsdb-server", filepath.Join(dir, "ovsdb-server.stderr"), o.env,
		mustLookPath(t, "ovsdb-server"), db,
		"--remote=punix:"+o.DBSock,
		"--unixctl="+o.DBCtlSock,
		"--pidfile="+filepath.Join(dir, "ovsdb-server.pid"),
		"--log-file="+o.DBLog,
		"-vconsole:off")
	if err != nil {
		t.Fatalf("ovsenv: %v", err)
	}
	if err := waitFor(10*time.Second, func() error {
		if o.db.exited() {
			return errStop(fmt.Errorf("ovsdb-server exited: %v; log:\n%s", o.db.err, tailFile(o.DBLog, 20)))
		}
		_, err := os.Stat(o.DBSock)
		return err
	}); err != nil {
		t.Fatalf("ovsenv: ovsdb-server socket: %v", err)
	}
	if _, err := o.vsctl(true, "init"); err != nil {
		t.Fatalf("ovsenv: %v", err)
	}
	set := []string{"set", "Open_vSwitch", "."}
	for _, k := range cfg.order {
		v := cfg.otherConfig[k]
		if k == "dpdk-extra" && !strings.Contains(v, "--file-prefix") {
			// An own prefix: DPDK's run dir /var/run/dpdk/PREFIX, removed by Cleanup.
			v = strings.TrimSpace(v + " --file-prefix=" + o.prefix)
		}
		set = append(set, fmt.Sprintf("other_config:%s=%s", k, quoteOVSDB(v)))
	}
	if _, err := o.vsctl(true, set...); err != nil {
		t.Fatalf("ovsenv: %v", err)
	}

	start := time.Now()
	o.vsd, err = startDaemon("ovs-vswitchd", filepath.Join(dir, "ovs-vswitchd.stderr"), o.env,
		VswitchdDPDK, "unix:"+o.DBSock,
		"--unixctl="+o.CtlSock,
		"--pidfile="+filepath.Join(dir, "ovs-vswitchd.pid"),
		"--log-file="+o.VswitchdLog,
		"-vconsole:off")
	if err != nil {
		t.Fatalf("ovsenv: %v", err)
	}
	if err := waitFor(cfg.startTimeout, func() error {
		if o.vsd.exited() {
			return errStop(fmt.Errorf("ovs-vswitchd exited: %v", o.vsd.err))
		}
		out, err := o.Vsctl("--no-wait", "get", "Open_vSwitch", ".", "dpdk_initialized")
		if err != nil {
			return err
		}
		if out != "true" {
			return fmt.Errorf("dpdk_initialized=%s", out)
		}
		return nil
	}); err != nil {
		o.logShown = true
		t.Fatalf("ovsenv: DPDK not initialised after %v: %v; ovs-vswitchd log:\n%s",
			time.Since(start).Round(time.Millisecond), err, tailFile(o.VswitchdLog, 30))
	}
	o.StartupTime = time.Since(start)
	return o
}

func mustLookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := lookPath(name)
	if err != nil {
		t.Fatalf("ovsenv: %v", err)
	}
	return p
}

// Vsctl runs ovs-vsctl against this instance's database and returns its trimmed stdout.
// Commands that change the configuration wait (30 s at most) until ovs-vswitchd applied it,
// unless args start with --no-wait.
func (o *OVS) Vsctl(args ...string) (string, error) { return o.vsctl(false, args...) }

func (o *OVS) vsctl(noWait bool, args ...string) (string, error) {
	a := []string{"--db=unix:" + o.DBSock, "--timeout=30"}
	if noWait {
		a = append(a, "--no-wait")
	}
	a = append(a, args...)
	out, err := o.run(40*time.Second, "ovs-vsctl", a...)
	if err != nil {
		return strings.TrimSpace(out), fmt.Errorf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return strings.TrimSpace(out), nil
}

// Appctl runs ovs-appctl against this instance's ovs-vswitchd, e.g.
// Appctl("dpif-netdev/pmd-stats-show").
func (o *OVS) Appctl(args ...string) (string, error) {
	a := append([]string{"-t", o.CtlSock, "--timeout=30"}, args...)
	out, err := o.run(40*time.Second, "ovs-appctl", a...)
	if err != nil {
		return strings.TrimSpace(out), fmt.Errorf("ovs-appctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return strings.TrimSpace(out), nil
}

// AddBridge creates a bridge with datapath_type=netdev (the userspace datapath vhost-user
// ports need). It fails the test on error.
func (o *OVS) AddBridge(name string) {
	o.t.Helper()
	if _, err := o.Vsctl("add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev"); err != nil {
		o.t.Fatalf("ovsenv: %v", err)
	}
}

// InterfaceStats returns the statistics column of the Interface named port. ovs-vswitchd
// refreshes it every 5 s (its minimum stats-update-interval): poll with WaitPortStat.
func (o *OVS) InterfaceStats(port string) (map[string]int, error) {
	out, err := o.Vsctl("--no-wait", "get", "Interface", port, "statistics")
	if err != nil {
		return nil, err
	}
	return parseOVSDBMap(out)
}

// PortStats is InterfaceStats failing the test on error. Keys as ovs-vswitchd writes them:
// rx_packets, tx_packets, rx_bytes, tx_dropped, ovs_tx_failure_drops, ...
func (o *OVS) PortStats(port string) map[string]int {
	o.t.Helper()
	m, err := o.InterfaceStats(port)
	if err != nil {
		o.t.Fatalf("ovsenv: %v", err)
	}
	return m
}

// WaitPortStat polls the Interface statistics of port until key is at least min, and
// returns the last statistics read.
func (o *OVS) WaitPortStat(port, key string, min int, timeout time.Duration) (map[string]int, error) {
	var last map[string]int
	err := waitFor(timeout, func() error {
		m, err := o.InterfaceStats(port)
		if err != nil {
			return err
		}
		last = m
		if m[key] < min {
			return fmt.Errorf("%s %s=%d, want >= %d", port, key, m[key], min)
		}
		return nil
	})
	return last, err
}

// WaitLinkState waits until the Interface's link_state is state ("up" once the vhost-user
// peer is connected).
func (o *OVS) WaitLinkState(port, state string, timeout time.Duration) error {
	return waitFor(timeout, func() error {
		out, err := o.Vsctl("--no-wait", "get", "Interface", port, "link_state")
		if err != nil {
			return err
		}
		if strings.Trim(out, `"`) != state {
			return fmt.Errorf("%s link_state=%s, want %s", port, out, state)
		}
		return nil
	})
}

// cleanup stops ovs-vswitchd, then ovsdb-server, and removes the temp dir and DPDK's
// run dir (ovs-vswitchd runs DPDK --in-memory: it leaves no hugepage files). The logs'
// tail goes to the test log when the test failed; OVSENV_KEEP=1 keeps the dir.
func (o *OVS) cleanup() {
	if o.t.Failed() && !o.logShown {
		o.t.Logf("ovsenv: tail of %s:\n%s", o.VswitchdLog, tailFile(o.VswitchdLog, 40))
	}
	if o.vsd != nil {
		o.vsd.stop(func() { _, _ = o.run(5*time.Second, "ovs-appctl", "-t", o.CtlSock, "--timeout=5", "exit") })
		if o.vsd.err != nil && !o.vsd.stopped {
			o.t.Logf("ovsenv: ovs-vswitchd: %v", o.vsd.err)
		}
	}
	if o.db != nil {
		o.db.stop(func() { _, _ = o.run(5*time.Second, "ovs-appctl", "-t", o.DBCtlSock, "--timeout=5", "exit") })
	}
	removeDPDKFiles(o.prefix)
	if os.Getenv("OVSENV_KEEP") == "1" {
		o.t.Logf("ovsenv: kept %s", o.Dir)
		return
	}
	_ = os.RemoveAll(o.Dir)
}

func (o *OVS) run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	p, err := lookPath(name)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = o.env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err = cmd.Run()
	return out.String(), err
}

// --- hugepages ----------------------------------------------------------------------------

// EnsureHugepages makes sure at least free 2 MB hugepages are free (raising
// /proc/sys/vm/nr_hugepages, never lowering it: a concurrent test may be using them) and
// that a hugetlbfs of 2 MB pages is mounted (mounting one at /dev/hugepages otherwise).
func EnsureHugepages(free int) error {
	if err := ensureHugetlbfs(); err != nil {
		return err
	}
	m, err := meminfo()
	if err != nil {
		return err
	}
	if m["Hugepagesize"] != 2048 {
		return fmt.Errorf("default hugepage size is %d kB, want 2048", m["Hugepagesize"])
	}
	if m["HugePages_Free"] >= free {
		return nil
	}
	b, err := os.ReadFile(nrHugepages)
	if err != nil {
		return err
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%s: %v", nrHugepages, err)
	}
	want := cur + free - m["HugePages_Free"]
	if err := os.WriteFile(nrHugepages, []byte(strconv.Itoa(want)), 0o644); err != nil {
		return fmt.Errorf("raising %s to %d: %v", nrHugepages, want, err)
	}
	if m, err = meminfo(); err != nil {
		return err
	}
	if m["HugePages_Free"] < free {
		return fmt.Errorf("only %d free 2 MB hugepages after setting %s to %d (want %d free): memory too fragmented or too small",
			m["HugePages_Free"], nrHugepages, want, free)
	}
	return nil
}

func ensureHugetlbfs() error {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "hugetlbfs" {
			continue
		}
		// A mount of another page size (pagesize=1G) does not serve 2 MB pages.
		if strings.Contains(f[3], "pagesize=") && !strings.Contains(f[3], "pagesize=2M") {
			continue
		}
		return nil
	}
	if err := os.MkdirAll(HugepageMount, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("nodev", HugepageMount, "hugetlbfs", 0, "pagesize=2M"); err != nil {
		return fmt.Errorf("mount hugetlbfs on %s: %v", HugepageMount, err)
	}
	return nil
}

func meminfo() (map[string]int, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err == nil {
			m[k] = n
		}
	}
	return m, nil
}

// removeDPDKFiles removes what a DPDK process of --file-prefix prefix may leave: its run dir
// and, when not run --in-memory, its hugepage files in every hugetlbfs mount.
func removeDPDKFiles(prefix string) {
	if prefix == "" || strings.ContainsAny(prefix, "/*?[") {
		return
	}
	_ = os.RemoveAll(filepath.Join("/var/run/dpdk", prefix))
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "hugetlbfs" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(f[1], prefix+"map_*"))
		for _, p := range files {
			_ = os.Remove(p)
		}
	}
}

// --- daemons ------------------------------------------------------------------------------

type daemon struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	stopped bool // stop was asked for: an exit error is expected
}

// startDaemon starts a child process with stdout and stderr to logPath. It dies with the
// test process (Pdeathsig) if that is killed before Cleanup runs.
func startDaemon(name, logPath string, env []string, path string, args ...string) (*daemon, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := startChild(cmd); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %v", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		f.Close()
		close(d.done)
	}()
	return d, nil
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop asks politely (ask), waits 5 s, then SIGTERM, 2 s, then SIGKILL.
func (d *daemon) stop(ask func()) {
	if d.exited() {
		return
	}
	d.stopped = true
	ask()
	for _, step := range []struct {
		wait time.Duration
		sig  syscall.Signal
	}{{5 * time.Second, syscall.SIGTERM}, {2 * time.Second, syscall.SIGKILL}} {
		select {
		case <-d.done:
			return
		case <-time.After(step.wait):
			_ = d.cmd.Process.Signal(step.sig)
		}
	}
	<-d.done
}

// --- helpers ------------------------------------------------------------------------------

type stopErr struct{ error }

// errStop makes waitFor give up at once.
func errStop(err error) error { return stopErr{err} }

// waitFor calls f every 100 ms until it returns nil, returns a stop error, or timeout.
func waitFor(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		var se stopErr
		if errors.As(err, &se) {
			return se.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// quoteOVSDB quotes a value for ovs-vsctl's KEY=VALUE syntax when it needs it.
func quoteOVSDB(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\",={}[]:\\") && !strings.HasPrefix(v, "-") {
		return v
	}
	return strconv.Quote(v)
}

// parseOVSDBMap parses ovs-vsctl's rendering of a map of integers: {a=1, b=2}.
func parseOVSDBMap(s string) (map[string]int, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("not an OVSDB map: %q", s)
	}
	m := map[string]int{}
	body := strings.TrimSpace(s[1 : len(s)-1])
	if body == "" {
		return m, nil
	}
	for _, kv := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return nil, fmt.Errorf("bad map entry %q in %q", kv, s)
		}
		n, err := strconv.Atoi(strings.Trim(v, `"`))
		if err != nil {
			return nil, fmt.Errorf("bad value in %q: %v", kv, err)
		}
		m[strings.Trim(k, `"`)] = n
	}
	return m, nil
}

func tailFile(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var ring []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if len(ring) > lines {
			ring = ring[1:]
		}
	}
	return strings.Join(ring, "\n")
}

// Pdeathsig fires when the *thread* that forked the child exits, not the
// process. Go retires threads (a goroutine that exits while locked to its
// thread, as network-namespace code does, takes the thread with it), which
// would kill a daemon in the middle of a test. So every child is started
// from one thread that is locked for the life of the process.
var spawnReq = make(chan spawnJob)

type spawnJob struct {
	cmd  *exec.Cmd
	done chan error
}

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for j := range spawnReq {
			j.done <- j.cmd.Start()
		}
	}()
}

// startChild starts cmd from the spawner thread.
func startChild(cmd *exec.Cmd) error {
	done := make(chan error)
	spawnReq <- spawnJob{cmd, done}
	return <-done
}
