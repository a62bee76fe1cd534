// Command host is `make bench`: it builds fastpath, host-local, the guest
// payload (test/bench/guest) and the bare program (test/bench/floor), boots
// the emulated SR-IOV guest with them (test/vm/run.sh) and reads their
// records off its console, measures vhost-user on OVS-DPDK and the VERSION
// floors on this machine, runs the scale curve, and writes
// docs/benchmarks.md and docs/benchmarks.svg. It prints the tables at the
// end, and exits non-zero if a part failed (the documents are written
// anyway, with the failure in them).
//
// Run it from the repository root, as root (network namespaces, hugepages,
// OVS), after `make deps`.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/fastpath-cni/fastpath/test/bench"
	"github.com/fastpath-cni/fastpath/test/cnitest"
	"github.com/fastpath-cni/fastpath/test/ovsenv"
)

var (
	opts           bench.Options
	rounds         = flag.Int("rounds", 5, "rounds of parallel ADDs of all 7 VFs (guest)")
	scaleList      = flag.String("scale", "8,64,256,1024", "VFs per PF of the scale curve")
	scaleIters     = flag.Int("scale-iters", 300, "measured ADDs and DELs per point of the scale curve")
	diskDir        = flag.String("state-disk", "/var/tmp", "a directory on disk, for the state handling on a disk (the scale table's last row)")
	out            = flag.String("out", "docs/benchmarks.md", "the report")
	svgOut         = flag.String("svg", "docs/benchmarks.svg", "the chart (a name beside the report is linked from it)")
	skip           = flag.String("skip", "", "comma-separated parts to leave out: guest, vhost, scale")
	guestLog       = flag.String("guest-log", "", "also write the guest console to this file")
	fromLog        = flag.String("from-guest-log", "", "read the guest's records from this console log instead of booting the guest")
	saveTo         = flag.String("save", "", "also write every record of the run to this file (re-render with -from)")
	from           = flag.String("from", "", "measure nothing: render the records a -save wrote")
	clusterStartup = flag.String("cluster-startup", "bin/cluster-startup.txt", "the pod start-up report of the last make cluster, shown if present")
	guestOnly      = flag.String("guest-only", "", "passed to the guest payload's -only (sections: version, kernel-hostlocal, ...)")
	timeout        = flag.Duration("guest-timeout", 45*time.Minute, "bound on the guest run")
)

func main() {
	flag.IntVar(&opts.Cycles, "n", 12, "measured cycles per cell and floor")
	flag.IntVar(&opts.Warmup, "warmup", 2, "cycles before measuring")
	flag.DurationVar(&opts.Settle, "settle", 50*time.Millisecond, "untimed pause after each ADD and DEL")
	flag.Parse()
	os.Exit(run())
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run() int {
	start := time.Now()
	if os.Geteuid() != 0 {
		logf("needs root (network namespaces, the guest, OVS with hugepages)")
		return 1
	}
	if *from != "" {
		return render(*from)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		logf("run from the repository root (no go.mod here)")
		return 1
	}
	skipped := map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		skipped[strings.TrimSpace(s)] = true
	}
	bin, err := os.MkdirTemp("", "fastpath-bench-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer os.RemoveAll(bin)
	commit := gitDescribe()
	logf("building into %s", bin)
	if err := build(bin, commit); err != nil {
		logf("%v", err)
		return 1
	}

	results := bench.NewResults()
	emit := bench.NewEmitter(nil, bench.EnvHost)
	emit.Sink = results.Add
	failed := false
	hostInfo := hostInfo()
	emit.Info("env", hostInfo)

	if !skipped["guest"] {
		if err := runGuest(bin, results); err != nil {
			logf("guest: %v", err)
			emit.Warn("guest", "%v", err)
			failed = true
		}
	}
	if !skipped["vhost"] {
		logf("vhost-user on OVS-DPDK (host) ...")
		if err := bench.Do("vhost", os.Stderr, func(t *bench.TB) { vhostCells(t, bin, emit, hostInfo) }); err != nil {
			emit.Warn("vhost", "%v (see the output above)", err)
			failed = true
		}
	}
	if !skipped["scale"] {
		logf("scale curve (host) ...")
		if err := scale(emit); err != nil {
			emit.Warn("scale", "%v", err)
			failed = true
		}
	}

	hostInfo["elapsed"] = time.Since(start).Round(time.Second).String()
	hostInfo["load-end"] = loadavg()
	hostInfo["cycles"], hostInfo["warmup"] = strconv.Itoa(opts.Cycles), strconv.Itoa(opts.Warmup)
	emit.Info("env", hostInfo)
	date := time.Now().UTC().Format("2006-01-02 15:04 MST")
	emit.Info("run", map[string]string{"date": date, "commit": commit})
	if *saveTo != "" {
		if err := save(*saveTo, results); err != nil {
			logf("%v", err)
			failed = true
		}
	}
	if !write(results, date, commit, start) {
		failed = true
	}
	if failed {
		return 1
	}
	return 0
}

// write renders the report and the chart, and prints the tables.
func write(results *bench.Results, date, commit string, start time.Time) bool {
	ok := true
	rep := &bench.Report{R: results, Date: date, Commit: commit, SVGName: relName(*out, *svgOut)}
	if b, err := os.ReadFile(*clusterStartup); err == nil {
		rep.ClusterStartup = string(b)
	}
	for _, f := range []struct{ path, body string }{{*out, rep.Markdown()}, {*svgOut, rep.SVG()}} {
		err := os.MkdirAll(filepath.Dir(f.path), 0o755)
		if err == nil {
			err = os.WriteFile(f.path, []byte(f.body), 0o644)
		}
		if err != nil {
			logf("%v", err)
			ok = false
		}
	}
	fmt.Println()
	fmt.Print(rep.Tables())
	fmt.Printf("\nWrote %s and %s in %s.\n", *out, *svgOut, time.Since(start).Round(time.Second))
	return ok
}

// save writes every record, one line each, as the guest prints them. The
// date and commit go along as an info record.
func save(path string, results *bench.Results) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	e := bench.NewEmitter(f, "")
	for _, r := range results.All() {
		e.Emit(r)
	}
	return f.Close()
}

func render(path string) int {
	f, err := os.Open(path)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer f.Close()
	recs, errs := bench.Scan(f, nil)
	if len(errs) > 0 {
		logf("%s: %v", path, errs)
		return 1
	}
	results := bench.NewResults(recs...)
	date, commit := "?", "?"
	if r, ok := results.Get(bench.EnvHost, "run"); ok {
		date, commit = r.Info["date"], r.Info["commit"]
	}
	if !write(results, date, commit, time.Now()) {
		return 1
	}
	return 0
}

func relName(md, svg string) string {
	if rel, err := filepath.Rel(filepath.Dir(md), svg); err == nil {
		return rel
	}
	return svg
}

func gitDescribe() string {
	b, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func goBuild(bin, out string, flags []string, pkg string) error {
	args := append([]string{"build", "-o", filepath.Join(bin, out)}, flags...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// build makes the static binaries: the plugins as they ship (stripped, as
// `make build` does fastpath), the bench programs, and a copy of strace
// with its libraries for the guest when this machine has one.
func build(bin, version string) error {
	release := []string{"-trimpath", "-ldflags", "-s -w -X main.Version=" + version}
	for _, b := range []struct {
		out   string
		flags []string
		pkg   string
	}{
		{"fastpath", release, "./cmd/fastpath"},
		{"fastpath-prof", append([]string{"-tags", "cpuprofile"}, release...), "./cmd/fastpath"},
		{"host-local", release, "github.com/containernetworking/plugins/plugins/ipam/host-local"},
		{"host-device", release, "github.com/containernetworking/plugins/plugins/main/host-device"},
		{"minimal", release, "./test/bench/minimal"},
		{"bench-guest", []string{"-trimpath"}, "./test/bench/guest"},
		{"floor", []string{"-trimpath"}, "./test/bench/floor"},
	} {
		if err := goBuild(bin, b.out, b.flags, b.pkg); err != nil {
			return err
		}
	}
	if err := bundleStrace(filepath.Join(bin, "strace")); err != nil {
		logf("no strace for the guest: %v", err)
	}
	return nil
}

// bundleStrace copies strace and the libraries ldd lists into dir; the
// guest runs it with LD_LIBRARY_PATH=dir/lib (its loader is there already,
// for ip-full).
func bundleStrace(dir string) error {
	path, err := exec.LookPath("strace")
	if err != nil {
		return err
	}
	lddOut, err := exec.Command("ldd", path).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		return err
	}
	if err := copyFile(path, filepath.Join(dir, "strace"), 0o755); err != nil {
		return err
	}
	re := regexp.MustCompile(`=> (/\S+)`)
	for _, m := range re.FindAllStringSubmatch(string(lddOut), -1) {
		real, err := filepath.EvalSymlinks(m[1])
		if err != nil {
			return err
		}
		if err := copyFile(real, filepath.Join(dir, "lib", filepath.Base(m[1])), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

// --- the guest ----------------------------------------------------------------------------

func runGuest(bin string, results *bench.Results) error {
	var console io.Reader
	var wait func() error
	if *fromLog != "" {
		f, err := os.Open(*fromLog)
		if err != nil {
			return err
		}
		defer f.Close()
		console, wait = f, func() error { return nil }
		logf("guest: reading %s", *fromLog)
	} else {
		args := []string{"--timeout", strconv.Itoa(int(timeout.Seconds())), bin, "--", "bench-guest",
			"-n", strconv.Itoa(opts.Cycles), "-warmup", strconv.Itoa(opts.Warmup),
			"-settle", opts.Settle.String(), "-rounds", strconv.Itoa(*rounds)}
		if *guestOnly != "" {
			args = append(args, "-only", *guestOnly)
		}
		cmd := exec.Command("test/vm/run.sh", args...)
		// netlink_diag lets strace tell a netlink socket's protocol, and
		// so decode the requests of the timelines.
		cmd.Env = append(os.Environ(), "FASTPATH_VM_MODULES=netlink_diag")
		cmd.Stderr = os.Stderr
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		logf("guest: booting (test/vm/run.sh), about 15 s before the payload starts")
		if err := cmd.Start(); err != nil {
			return err
		}
		console, wait = pipe, cmd.Wait
	}
	var logw io.Writer = io.Discard
	if *guestLog != "" {
		f, err := os.Create(*guestLog)
		if err != nil {
			return err
		}
		defer f.Close()
		logw = f
	}
	tee := io.TeeReader(console, logw)
	recs, errs := bench.Scan(tee, func(line string) {
		if strings.TrimSpace(line) != "" {
			fmt.Println("  guest| " + line)
		}
	})
	for _, r := range recs {
		results.Add(r)
	}
	werr := wait()
	logf("guest: %d records", len(recs))
	for _, e := range errs {
		logf("guest: %v", e)
	}
	if werr != nil {
		return fmt.Errorf("test/vm/run.sh: %w", werr)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d console lines did not decode", len(errs))
	}
	return nil
}

// --- the host -----------------------------------------------------------------------------

func hostInfo() map[string]string {
	info := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version(), "load-start": loadavg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		info["kernel"] = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				info["cpu"] = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s+(\d+) kB`).FindSubmatch(b); m != nil {
			kb, _ := strconv.Atoi(string(m[1]))
			info["mem"] = fmt.Sprintf("%d MiB", kb/1024)
		}
	}
	if b, err := exec.Command("qemu-system-x86_64", "--version").Output(); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		info["qemu"] = strings.TrimSpace(line)
	}
	if b, err := exec.Command("ovs-vsctl", "--version").Output(); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		info["ovs"] = strings.TrimSpace(line)
	}
	return info
}

// fsDesc names the filesystem dir is on, from /proc/mounts (the longest
// mount point that holds it).
func fsDesc(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return dir
	}
	best, typ := "", "?"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, typ = mp, f[2]
		}
	}
	return fmt.Sprintf("%s (%s)", dir, typ)
}

// loadavg is the machine's 1-minute load average.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

const bridge = "br-bench"

// vhostCells measures the vhost-user cells on a private OVS-DPDK through
// libcni, each cycle by cycle against its floor (bench.Interleaved): the
// VERSION starts and the bare program's OVSDB transaction (and socket link),
// with OVS running.
func vhostCells(t *bench.TB, bin string, emit *bench.Emitter, info map[string]string) {
	o := ovsenv.Start(t)
	o.AddBridge(bridge)
	info["ovs-startup"] = o.StartupTime.Round(time.Millisecond).String()

	n := cnitest.NewNet(t, bin)
	// Short: the sockets live below it (108-byte limit).
	pods, err := os.MkdirTemp("", "fp-pods-")
	cnitest.Must(t, err)
	t.Cleanup(func() { os.RemoveAll(pods) })
	n.SetNode("vhostuser", map[string]any{"ovsdb": "unix:" + o.DBSock, "podsDir": pods})
	acc := bench.NewAcc()
	defer acc.Emit(emit)
	cpu0, cycles := ovsCPU(), 0
	for _, p := range bench.Paths {
		if p.Kind != bench.KindVhost {
			continue
		}
		l := n.List("1.1.0", n.Plugin("10.99.0.0/24", map[string]any{
			"mode": "vhostuser", "logLevel": "info",
			"vhostuser": map[string]any{"backend": "ovs", "bridge": bridge, "vlan": 100, "socketRole": p.Role},
		}))
		a := bench.Attachment{Conf: l, RT: func(pod ns.NetNS, id string) *libcni.RuntimeConf {
			return &libcni.RuntimeConf{ContainerID: id, NetNS: pod.Path(), IfName: "net1",
				Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_UID", "uid-" + id}, {"K8S_POD_NAME", id}, {"K8S_POD_NAMESPACE", "bench"}}}
		}}
		floorCmd := []string{filepath.Join(bin, "floor"), "vhost", "-name", p.Floor, "-env", bench.EnvHost,
			"-ovsdb", "unix:" + o.DBSock, "-bridge", bridge, "-dir", pods, "-vlan", "100", "-role", p.Role, "-ovs-sock-dir", o.Dir}
		cnitest.Must(t, bench.Interleaved(opts, p.Name, bench.Starts(bin, "/bin/true"), floorCmd, n, a, nil, acc))
		cycles += opts.Cycles + opts.Warmup
	}
	if cycles > 0 {
		cpu := ovsCPU()
		info["ovs-vswitchd-cpu"] = fmt.Sprintf("%.1f", float64(cpu["ovs-vswitchd"]-cpu0["ovs-vswitchd"])/float64(cycles))
		info["ovsdb-server-cpu"] = fmt.Sprintf("%.1f", float64(cpu["ovsdb-server"]-cpu0["ovsdb-server"])/float64(cycles))
	}

	ports, err := o.Vsctl("--no-wait", "list-ports", bridge)
	cnitest.Must(t, err)
	if ports != "" {
		emit.Warn("vhost", "ports left on %s after the cycles: %s", bridge, ports)
	}
	if left := n.StateFiles(); len(left) > 0 {
		emit.Warn("vhost", "state left after the cycles: %v", left)
	}
	if ents, _ := os.ReadDir(pods); len(ents) > 0 {
		emit.Warn("vhost", "%d entries left in the pods directory", len(ents))
	}
}

// ovsCPU is the CPU time, in ms, that the OVS daemons have used, by name
// (the kernel shortens ovs-vswitchd-dpdk to ovs-vswitchd-dp).
func ovsCPU() map[string]int64 {
	out := map[string]int64{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ...: utime and stime are the 14th and 15th fields.
		i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if i < 0 || j < i {
			continue
		}
		name := string(b[i+1 : j])
		switch {
		case strings.HasPrefix(name, "ovs-vswitchd"):
			name = "ovs-vswitchd"
		case name != "ovsdb-server":
			continue
		}
		f := strings.Fields(string(b[j+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[name] += (u + st) * 10 // USER_HZ is 100
	}
	return out
}

func scale(emit *bench.Emitter) error {
	var counts []int
	for _, f := range strings.Split(*scaleList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -scale entry %q", f)
		}
		counts = append(counts, n)
	}
	pts, err := bench.Scale(counts, *scaleIters)
	if err != nil {
		return err
	}
	var names []string
	for _, p := range pts {
		emit.Series(fmt.Sprintf("scale/%d/lookup", p.VFsPerPF), p.Lookup)
		emit.Series(fmt.Sprintf("scale/%d/ADD", p.VFsPerPF), p.Add)
		emit.Series(fmt.Sprintf("scale/%d/DEL", p.VFsPerPF), p.Del)
		names = append(names, strconv.Itoa(p.VFsPerPF))
	}
	info := map[string]string{"counts": strings.Join(names, ","), "iters": strconv.Itoa(*scaleIters)}
	// The same at the smallest count with the state on disk, as on a node.
	if *diskDir != "" {
		p, err := bench.ScaleOnDisk(counts[0], max(*scaleIters/3, 10), *diskDir)
		if err != nil {
			return err
		}
		emit.Series("scale/disk/lookup", p.Lookup)
		emit.Series("scale/disk/ADD", p.Add)
		emit.Series("scale/disk/DEL", p.Del)
		info["disk"], info["disk-vfs"] = fsDesc(*diskDir), strconv.Itoa(counts[0])
	}
	emit.Info("scale", info)
	return nil
}
