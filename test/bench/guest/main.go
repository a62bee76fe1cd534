// Command guest is the payload of `make bench` in the emulated SR-IOV guest
// (test/vm/run.sh): it times fastpath's ADD and DEL through libcni on the
// guest's igb VFs, the floors of each path (VERSION calls of fastpath and
// host-local, and the bare program test/bench/floor), parallel ADDs of all 7
// VFs, when strace is in /opt/bin/strace, one ADD and DEL under strace, and
// CPU profiles of ADD and DEL cycles (fastpath-prof). Everything goes to the
// console as bench.Records; progress and errors are plain lines.
//
// It expects in /opt/bin: fastpath, fastpath-prof, host-local, minimal,
// floor, and this program.
package main

import (
	"bufio"
	"flag"
	"fmt"
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
)

var (
	opts     bench.Options
	rounds   = flag.Int("rounds", 5, "rounds of parallel ADDs of all VFs")
	only     = flag.String("only", "", "comma-separated sections to run (default: all)")
	binDir   = "/opt/cni/bin"
	emit     = bench.NewEmitter(os.Stdout, bench.EnvGuest)
	straceAt = "/opt/bin/strace"
)

func main() {
	flag.IntVar(&opts.Cycles, "n", 30, "measured cycles per path")
	flag.IntVar(&opts.Warmup, "warmup", 2, "cycles before measuring")
	flag.DurationVar(&opts.Settle, "settle", 50*time.Millisecond, "untimed pause after each ADD and DEL")
	flag.Parse()
	if p := os.Getenv("CNI_PATH"); p != "" {
		binDir = filepath.SplitList(p)[0]
	}
	emit.Info("env", guestInfo())
	nc, err := findNIC()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-guest:", err)
		os.Exit(1)
	}
	type section struct {
		name string
		f    func(t *bench.TB, nc nic)
	}
	var sections []section
	for _, p := range bench.Paths {
		if p.Env == bench.EnvGuest {
			sections = append(sections, section{p.Name, func(t *bench.TB, nc nic) { cellPath(t, nc, p) }})
		}
	}
	sections = append(sections, section{"parallel", parallelAll}, section{"strace", straceOne}, section{"pprof", profiles})
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s != "" {
			want[s] = true
		}
	}
	failed := 0
	for _, s := range sections {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		start := time.Now()
		fmt.Fprintf(os.Stderr, "bench-guest: %s ...\n", s.name)
		err := bench.Do(s.name, os.Stderr, func(t *bench.TB) { s.f(t, nc) })
		// What a section gathered goes out as it ends, even when it failed.
		acc.Emit(emit)
		acc = bench.NewAcc()
		fmt.Fprintf(os.Stderr, "bench-guest: %s done in %s\n", s.name, time.Since(start).Round(time.Millisecond))
		if err != nil {
			failed++
			emit.Warn("section/"+s.name, "section %s failed (see the guest console)", s.name)
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func guestInfo() map[string]string {
	info := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU()), "goarch": runtime.GOARCH}
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
	info["cycles"] = strconv.Itoa(opts.Cycles)
	info["warmup"] = strconv.Itoa(opts.Warmup)
	info["settle"] = opts.Settle.String()
	info["rounds"] = strconv.Itoa(*rounds)
	return info
}

// --- the NIC ----------------------------------------------------------------------------

type nic struct {
	pf    string
	vfs   []string // PCI addresses by VF index
	names []string // netdevs by VF index
}

func findNIC() (nic, error) {
	var n nic
	pfs, _ := filepath.Glob("/sys/bus/pci/drivers/igb/0000:*")
	if len(pfs) == 0 {
		return n, fmt.Errorf("no igb PF")
	}
	nets, _ := os.ReadDir(filepath.Join(pfs[0], "net"))
	if len(nets) == 0 {
		return n, fmt.Errorf("igb PF has no netdev")
	}
	n.pf = nets[0].Name()
	for i := 0; ; i++ {
		l, err := os.Readlink(filepath.Join(pfs[0], fmt.Sprintf("virtfn%d", i)))
		if err != nil {
			break
		}
		pci := filepath.Base(l)
		vn, _ := os.ReadDir(filepath.Join("/sys/bus/pci/devices", pci, "net"))
		if len(vn) == 0 {
			return n, fmt.Errorf("VF %s has no netdev", pci)
		}
		n.vfs = append(n.vfs, pci)
		n.names = append(n.names, vn[0].Name())
	}
	if len(n.vfs) != 7 {
		return n, fmt.Errorf("want 7 VFs, found %d", len(n.vfs))
	}
	return n, nil
}

var qdiscRe = regexp.MustCompile(`qdisc \S+`)

// snapshot is `ip link show` of the PF and of the VF netdevs (qdisc aside:
// the first open attaches one for good), the operator's view that DEL must
// leave as found.
func (n nic) snapshot(t *bench.TB) string {
	var b strings.Builder
	for i, name := range append([]string{n.pf}, n.names...) {
		if name == "" {
			continue
		}
		out, err := exec.Command("/usr/sbin/ip-full", "link", "show", name).CombinedOutput()
		if err != nil {
			t.Fatalf("ip link show %s: %v\n%s", name, err, out)
		}
		if i > 0 {
			out = qdiscRe.ReplaceAll(out, []byte("qdisc -"))
		}
		b.Write(out)
	}
	return b.String()
}

// same warns if the NIC differs from before: a path that does not restore
// what it found is measured doing less than it should.
func (n nic) same(t *bench.TB, name, before string) {
	if after := n.snapshot(t); after != before {
		emit.Warn(name, "after the cycles `ip link show` differs from before:\n--- before\n%s--- after\n%s", before, after)
	}
}

// --- configs ------------------------------------------------------------------------------

func mac(i int) string { return fmt.Sprintf("02:fa:00:00:00:%02x", i+1) }

// kernelConf is the kernel VF config of cell p on VF i, on VLAN vlan: with
// host-local handing out an address and a route, or without IPAM. Logs at
// info to a file, as on a node.
func kernelConf(n *cnitest.Net, nc nic, i, vlan int, p bench.Path) *libcni.NetworkConfigList {
	extra := map[string]any{"deviceID": nc.vfs[i], "logLevel": "info"}
	if !p.Plain {
		extra["vlan"], extra["spoofchk"], extra["trust"] = vlan, "on", onOff(p.Trust)
	}
	if p.MAC {
		extra["mac"] = mac(i)
	}
	if p.MTU {
		extra["mtu"] = 1400
	}
	return n.List("1.1.0", withIPAM(n.Plugin("10.10.0.0/24", extra), p.IPAM))
}

// withIPAM gives plugin config c host-local's route, or no IPAM.
func withIPAM(c map[string]any, ipam bool) map[string]any {
	if ipam {
		c["ipam"].(map[string]any)["routes"] = []map[string]any{{"dst": "10.200.0.0/16"}}
	} else {
		delete(c, "ipam")
	}
	return c
}

// hostDeviceConf is host-device (the peer) moving VF i, with the same IPAM.
func hostDeviceConf(n *cnitest.Net, nc nic, i int, ipam bool) *libcni.NetworkConfigList {
	c := withIPAM(n.Plugin("10.10.0.0/24", map[string]any{"pciBusID": nc.vfs[i]}), ipam)
	c["type"] = "host-device"
	delete(c, "logFile")
	delete(c, "logLevel")
	return n.List("1.1.0", c)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// kernelFloor is the bare program's command for cell p on VF 0.
func kernelFloor(nc nic, p bench.Path) []string {
	cmd := []string{filepath.Join(binDir, "floor"), "kernel", "-name", p.Floor, "-env", bench.EnvGuest,
		"-pf", nc.pf, "-vf", "0", "-netdev", nc.names[0]}
	if !p.Plain {
		cmd = append(cmd, "-vlan", "100", "-spoofchk", "on", "-trust", onOff(p.Trust))
	}
	if p.MAC {
		cmd = append(cmd, "-mac", mac(0))
	}
	if p.MTU {
		cmd = append(cmd, "-mtu", "1400")
	}
	if p.IPAM {
		cmd = append(cmd, "-addr", "10.10.0.200/24", "-route", "10.200.0.0/16", "-gw", "10.10.0.1")
	}
	return cmd
}

func attachment(l *libcni.NetworkConfigList) bench.Attachment {
	return bench.Attachment{Conf: l, RT: func(p ns.NetNS, id string) *libcni.RuntimeConf { return cnitest.RT(p, id, "net1") }}
}

// --- sections -----------------------------------------------------------------------------

// acc gathers the interleaved series of a section; they are emitted at its end.
var acc = bench.NewAcc()

func starts() []bench.Start { return bench.Starts(binDir, "/bin/true") }

// cellPath measures cell p through libcni, cycle by cycle against the bare
// program doing the same kernel calls, with its peer when it has one, then
// traces one ADD and one DEL (timeline).
func cellPath(t *bench.TB, nc nic, p bench.Path) {
	if p.Kind == bench.KindVfio {
		vfioPath(t, nc, p)
		return
	}
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	var peer *bench.Attachment
	if p.Peer == "host-device" {
		a := attachment(hostDeviceConf(n, nc, 0, p.IPAM))
		peer = &a
	}
	l := kernelConf(n, nc, 0, 100, p)
	cnitest.Must(t, bench.Interleaved(opts, p.Name, starts(), kernelFloor(nc, p), n, attachment(l), peer, acc))
	nc.same(t, p.Name, before)
	timeline(t, p, l)
	nc.same(t, p.Name+" (timeline)", before)
}

func parallelAll(t *bench.TB, nc nic) {
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	var as []bench.Attachment
	for i := range nc.vfs {
		as = append(as, attachment(kernelConf(n, nc, i, 100+i, refPath())))
	}
	res, err := bench.RunParallel(n, as, opts, *rounds)
	cnitest.Must(t, err)
	var addTot, delTot, add, del []time.Duration
	for _, r := range res {
		addTot, delTot = append(addTot, r.AddTotal), append(delTot, r.DelTotal)
		add, del = append(add, r.Add...), append(del, r.Del...)
	}
	emit.Series("parallel/ADD/total", addTot)
	emit.Series("parallel/DEL/total", delTot)
	emit.Series("parallel/ADD/pod", add)
	emit.Series("parallel/DEL/pod", del)
	nc.same(t, "parallel", before)
}

// bind hands a PCI device to driver ("" gives it back to the kernel's own
// match), as test/e2e does.
func bind(t *bench.TB, pci, driver string) {
	dev := filepath.Join("/sys/bus/pci/devices", pci)
	cnitest.Must(t, os.WriteFile(filepath.Join(dev, "driver_override"), []byte(driver+"\n"), 0o200))
	if _, err := os.Lstat(filepath.Join(dev, "driver")); err == nil {
		cnitest.Must(t, os.WriteFile(filepath.Join(dev, "driver/unbind"), []byte(pci), 0o200))
	}
	cnitest.Must(t, os.WriteFile("/sys/bus/pci/drivers_probe", []byte(pci), 0o200))
}

func waitNetdev(t *bench.TB, pci string) {
	for range 200 {
		if ents, _ := os.ReadDir(filepath.Join("/sys/bus/pci/devices", pci, "net")); len(ents) > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("VF %s has no netdev after rebinding", pci)
}

// vfioVF is the VF that the vfio path binds to vfio-pci.
const vfioVF = 6

// bindVFIO binds vfioVF to vfio-pci until the section ends, and returns the
// NIC as it then is (that VF without a netdev).
func bindVFIO(t *bench.TB, nc nic) nic {
	pci := nc.vfs[vfioVF]
	bind(t, pci, "vfio-pci")
	t.Cleanup(func() {
		bind(t, pci, "")
		waitNetdev(t, pci)
	})
	vfioNIC := nc
	vfioNIC.names = append([]string(nil), nc.names...)
	vfioNIC.names[vfioVF] = ""
	return vfioNIC
}

// vfioConf is the vfio VF with PF-side settings and no IPAM.
func vfioConf(n *cnitest.Net, nc nic, p bench.Path) *libcni.NetworkConfigList {
	extra := map[string]any{"deviceID": nc.vfs[vfioVF], "vlan": 600, "spoofchk": "off", "trust": "on", "logLevel": "info", "ipam": nil}
	if p.MAC {
		extra["mac"] = "02:60:00:00:00:01"
	}
	return n.List("1.1.0", n.Plugin("10.60.0.0/24", extra))
}

func vfioPath(t *bench.TB, nc nic, p bench.Path) {
	vfioNIC := bindVFIO(t, nc)
	before := vfioNIC.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	l := vfioConf(n, nc, p)
	floorCmd := []string{filepath.Join(binDir, "floor"), "pfside", "-name", p.Floor, "-env", bench.EnvGuest,
		"-pf", nc.pf, "-vf", strconv.Itoa(vfioVF), "-vlan", "600", "-spoofchk", "off", "-trust", "on"}
	if p.MAC {
		floorCmd = append(floorCmd, "-mac", "02:60:00:00:00:01")
	}
	cnitest.Must(t, bench.Interleaved(opts, p.Name, starts(), floorCmd, n, attachment(l), nil, acc))
	vfioNIC.same(t, p.Name, before)
	timeline(t, p, l)
}

// refPath is the cell of the parallel run, strace and the profiles.
func refPath() bench.Path {
	p, _ := bench.PathNamed(bench.RefPath)
	return p
}

// profiles runs ADD and DEL cycles of the kernel VF with host-local and of
// the vfio VF with fastpath-prof, the cpuprofile build of fastpath (one CPU
// profile per call), and emits the top of each path's merged profiles.
func profiles(t *bench.TB, nc nic) {
	if _, err := os.Stat(filepath.Join(binDir, "fastpath-prof")); err != nil {
		emit.Warn("pprof", "no fastpath-prof in %s (%v): skipped", binDir, err)
		return
	}
	dir := pluginDir(t, filepath.Join(binDir, "fastpath-prof"))
	out := t.TempDir()
	t.Setenv("FASTPATH_CPUPROFILE", out)
	n := cnitest.NewNet(t, dir)
	run := func(name string, l *libcni.NetworkConfigList) {
		for i := range opts.Cycles {
			p, err := bench.NewPod()
			cnitest.Must(t, err)
			rt := cnitest.RT(p, fmt.Sprintf("pprof-%d", i), "net1")
			_, err = n.Add(l, rt)
			time.Sleep(opts.Settle)
			if err == nil {
				err = n.Del(l, rt)
				time.Sleep(opts.Settle)
			}
			bench.ClosePod(p)
			cnitest.Must(t, err)
		}
		for _, op := range []string{"ADD", "DEL"} {
			files, err := filepath.Glob(filepath.Join(out, op+"-*.pprof"))
			cnitest.Must(t, err)
			var ps [][]byte
			for _, f := range files {
				b, err := os.ReadFile(f)
				cnitest.Must(t, err)
				ps = append(ps, b)
				cnitest.Must(t, os.Remove(f))
			}
			top, err := bench.PprofTop(ps, 25)
			cnitest.Must(t, err)
			emit.Text("pprof/"+name+"/"+op, top)
		}
	}
	before := nc.snapshot(t)
	run(refPath().Title, kernelConf(n, nc, 0, 100, refPath()))
	nc.same(t, "pprof", before)
	bindVFIO(t, nc)
	vfio, _ := bench.PathNamed("vfio-mac")
	run(vfio.Title, vfioConf(n, nc, vfio))
}

// pluginDir is a plugin directory with the plugins of binDir, fastpath
// being the program at path.
func pluginDir(t *bench.TB, path string) string {
	dir := t.TempDir()
	ents, err := os.ReadDir(binDir)
	cnitest.Must(t, err)
	for _, e := range ents {
		if e.Name() != "fastpath" {
			cnitest.Must(t, os.Symlink(filepath.Join(binDir, e.Name()), filepath.Join(dir, e.Name())))
		}
	}
	cnitest.Must(t, os.Symlink(path, filepath.Join(dir, "fastpath")))
	return dir
}

// straceDir is a plugin directory whose fastpath runs under strace, with
// the options in $BENCH_STRACE_OPTS and the output to $BENCH_STRACE_OUT;
// the other plugins run as they are. Without strace in the guest, it warns
// under name and says no.
func straceDir(t *bench.TB, name string) (string, bool) {
	if _, err := os.Stat(filepath.Join(straceAt, "strace")); err != nil {
		emit.Warn(name, "no strace in the guest (%v): skipped", err)
		return "", false
	}
	wrapper := filepath.Join(t.TempDir(), "fastpath-strace")
	cnitest.Must(t, os.WriteFile(wrapper, []byte(fmt.Sprintf(
		"#!/bin/sh\nexport LD_LIBRARY_PATH=%s/lib\nexec %s/strace $BENCH_STRACE_OPTS -o \"$BENCH_STRACE_OUT\" %s \"$@\"\n",
		straceAt, straceAt, filepath.Join(binDir, "fastpath"))), 0o755))
	return pluginDir(t, wrapper), true
}

// timeline runs one ADD and one DEL of cell p's config l with fastpath
// under strace, tracing only its netlink requests and execs (a seccomp
// filter stops it at these calls only), and emits each call's timeline
// (bench.NetlinkTimeline) as "timeline/<cell>/<op>".
func timeline(t *bench.TB, p bench.Path, l *libcni.NetworkConfigList) {
	dir, ok := straceDir(t, "timeline/"+p.Name)
	if !ok {
		return
	}
	n := cnitest.NewNet(t, dir)
	t.Setenv("BENCH_STRACE_OPTS", "-f --seccomp-bpf -ttt -T -e trace=sendto,sendmsg,execve -s 16")
	pod, err := bench.NewPod()
	cnitest.Must(t, err)
	defer bench.ClosePod(pod)
	rt := cnitest.RT(pod, "timeline-"+p.Name, "net1")
	for _, op := range []string{"ADD", "DEL"} {
		out := filepath.Join(n.Dir, "timeline-"+op)
		t.Setenv("BENCH_STRACE_OUT", out)
		if op == "ADD" {
			_, err = n.Add(l, rt)
		} else {
			err = n.Del(l, rt)
		}
		cnitest.Must(t, err)
		b, err := os.ReadFile(out)
		cnitest.Must(t, err)
		emit.Text("timeline/"+p.Name+"/"+op, bench.NetlinkTimeline(string(b)))
		time.Sleep(opts.Settle)
	}
}

// straceOne runs one ADD and one DEL of the kernel VF with host-local under
// strace (-f: fastpath and the host-local it runs), three times: the wall
// clock per syscall (-c -w), the system time per syscall (-c), and a full
// timed trace, of which the slowest calls and each process's span are shown.
func straceOne(t *bench.TB, nc nic) {
	dir, ok := straceDir(t, "strace")
	if !ok {
		return
	}
	n := cnitest.NewNet(t, dir)
	l := kernelConf(n, nc, 0, 100, refPath())
	runs := []struct{ name, opts string }{
		{"wall", "-f -c -w"},
		{"system", "-f -c"},
		{"trace", "-f -ttt -T -s 64"},
	}
	for i, r := range runs {
		t.Setenv("BENCH_STRACE_OPTS", r.opts)
		p, err := bench.NewPod()
		cnitest.Must(t, err)
		rt := cnitest.RT(p, fmt.Sprintf("strace-%d", i), "net1")
		for _, op := range []string{"ADD", "DEL"} {
			out := filepath.Join(n.Dir, fmt.Sprintf("strace-%s-%s", r.name, op))
			t.Setenv("BENCH_STRACE_OUT", out)
			start := time.Now()
			if op == "ADD" {
				_, err = n.Add(l, rt)
			} else {
				err = n.Del(l, rt)
			}
			d := time.Since(start)
			if err != nil {
				bench.ClosePod(p)
				t.Fatalf("%s under strace: %v", op, err)
			}
			b, err := os.ReadFile(out)
			cnitest.Must(t, err)
			text := string(b)
			if r.name == "trace" {
				text = bench.AnalyseStrace(text, 15)
			} else {
				text = bench.TrimStraceSummary(text, 15)
			}
			emit.Text(fmt.Sprintf("strace/%s/%s", op, r.name),
				fmt.Sprintf("%s of kernel VF + host-local under strace %s: %s (strace slows every call)\n%s",
					op, r.opts, d.Round(time.Millisecond), text))
			time.Sleep(opts.Settle)
		}
		bench.ClosePod(p)
	}
}
