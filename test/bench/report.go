package bench

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Path is one cell of the configuration matrix: a CNI path that `make bench`
// measures cycle by cycle against its own floor. The cells are data
// (Paths): the guest and host programs build each cell's config and its bare
// program's flags from these fields, and run every cell with the same cycle
// code.
type Path struct {
	Name  string // series prefix: Name+"/ADD", Name+"/DEL"
	Title string
	Env   string
	Kind  string // KindKernel, KindVfio or KindVhost
	IPAM  bool   // runs host-local, whose start is in the floor
	// Kernel and vfio VF: a `mac`; kernel VF: `mtu` 1400, `trust` on (else
	// off), with `vlan` 100 and `spoofchk` on. Plain: `deviceID` only.
	MAC, MTU, Trust, Plain bool
	Role                   string // vhost-user: socketRole
	Floor                  string // series prefix of the bare program's figures
	// Peer is the reference plugin run on the same VF in the same cycles
	// (series Name+"/peer/ADD"), when it supports the cell.
	Peer string
}

// Cell kinds.
const (
	KindKernel = "kernel"
	KindVfio   = "vfio"
	KindVhost  = "vhost"
)

// Limits are the targets: p50 at most this many times the floor's.
var Limits = map[string]float64{KindKernel: 1.15, KindVfio: 1.3, KindVhost: 1.5}

// Paths are the cells, in report order: kernel VF {mac, no mac} x {mtu, no
// mtu} x {trust on, off} x {host-local, no IPAM}, the plain move that
// host-device does too, vfio-pci VF with and without mac, vhost-user in
// both socket roles.
var Paths = matrix()

func matrix() []Path {
	onOff := func(b bool, on, off string) string {
		if b {
			return on
		}
		return off
	}
	var out []Path
	for _, ipam := range []bool{true, false} {
		for _, mac := range []bool{true, false} {
			for _, mtu := range []bool{true, false} {
				for _, trust := range []bool{false, true} {
					p := Path{Env: EnvGuest, Kind: KindKernel, IPAM: ipam, MAC: mac, MTU: mtu, Trust: trust}
					p.Name = "kernel" + onOff(mac, "-mac", "") + onOff(mtu, "-mtu", "") + onOff(trust, "-trust", "") + onOff(ipam, "-hostlocal", "-noipam")
					p.Title = "kernel VF" + onOff(mac, ", mac", "") + onOff(mtu, ", mtu", "") + onOff(trust, ", trust on", ", trust off") + onOff(ipam, " + host-local", ", no IPAM")
					out = append(out, p)
				}
			}
		}
		out = append(out, Path{Name: "kernel-plain" + onOff(ipam, "-hostlocal", "-noipam"), Env: EnvGuest, Kind: KindKernel,
			IPAM: ipam, Plain: true, Peer: "host-device",
			Title: "kernel VF, plain move" + onOff(ipam, " + host-local", ", no IPAM")})
	}
	out = append(out,
		Path{Name: "vfio-mac", Title: "vfio-pci VF, mac", Env: EnvGuest, Kind: KindVfio, MAC: true},
		Path{Name: "vfio", Title: "vfio-pci VF, no mac", Env: EnvGuest, Kind: KindVfio},
		Path{Name: "vhost-server", Title: "vhost-user server + host-local", Env: EnvHost, Kind: KindVhost, IPAM: true, Role: "server"},
		Path{Name: "vhost-client", Title: "vhost-user client + host-local", Env: EnvHost, Kind: KindVhost, IPAM: true, Role: "client"},
	)
	for i := range out {
		out[i].Floor = "floor/" + out[i].Name
	}
	return out
}

// PathNamed is the cell of that name.
func PathNamed(name string) (Path, bool) {
	for _, p := range Paths {
		if p.Name == name {
			return p, true
		}
	}
	return Path{}, false
}

// RefPath is the cell that the parallel run, strace and the profiles use:
// the configuration of test/e2e's vfConf with mtu, and host-local.
const RefPath = "kernel-mac-mtu-hostlocal"

// Ops are the CNI commands timed.
var Ops = []string{"ADD", "DEL"}

// References are figures measured outside the project (sriov-cni is not
// served by the module proxy here), p50 on the same guest through libcni
// with host-local, from issue 12, with the cell of the same configuration.
var References = []struct {
	Plugin, Path string
	ADD, DEL     float64
	// MaxADD and MaxDEL are the targets: fastpath's p50 over the
	// reference's.
	MaxADD, MaxDEL float64
}{
	{"sriov-cni", "kernel-mac-trust-hostlocal", 305, 198, 0.6, 0.8},
}

// Floor is the floor of one path and op, by statistic, and its parts.
type Floor struct {
	Min, P50, P90 float64
	// Parts by name ("fastpath start", "host-local start", "kernel calls"),
	// p50 each, in order.
	Parts     []FloorPart
	Available bool
	// PerCycle: the statistics are those of the floor of each cycle (the
	// sum of its parts measured in that cycle), not sums of statistics.
	PerCycle bool
	// Cycles are the floors of the cycles, in order, when PerCycle.
	Cycles []float64
}

// FloorPart is one summand of a floor.
type FloorPart struct {
	Name string
	S    Stats
}

// FloorOf adds up the floor of p's op: fastpath's VERSION start, the IPAM
// plugin's when the path has one, and the bare program's time. The starts
// are those timed in the path's own cycles when there are (Interleaved):
// then each cycle has its floor, the sum of its parts, and the statistics
// are of these. Else (pooled starts) each statistic is the sum of that
// statistic of the parts, which overstates p90 and understates min.
func (r *Results) FloorOf(p Path, op string) Floor {
	var f Floor
	type part struct{ label, series string }
	start := func(prog string) string {
		if _, ok := r.Stats(p.Env, p.Name+"/start/"+prog); ok {
			return p.Name + "/start/" + prog
		}
		return "version/" + prog
	}
	parts := []part{{"fastpath start", start("fastpath")}}
	if p.IPAM {
		parts = append(parts, part{"host-local start", start("host-local")})
	}
	last := part{"kernel calls", p.Floor + "/" + op}
	if p.Kind == KindVhost {
		last.label = "OVSDB + files"
	}
	var sum []float64 // per cycle, when every part has a sample of every cycle
	for i, n := range append(parts, last) {
		s, ok := r.Stats(p.Env, n.series)
		if !ok {
			return Floor{}
		}
		f.Parts = append(f.Parts, FloorPart{n.label, s})
		f.Min += s.Min
		f.P50 += s.P50
		f.P90 += s.P90
		rec, _ := r.Get(p.Env, n.series)
		switch {
		case i == 0:
			sum = slices.Clone(rec.MS)
		case sum != nil && len(rec.MS) == len(sum):
			for j, v := range rec.MS {
				sum[j] += v
			}
		default:
			sum = nil
		}
	}
	if sum != nil && strings.HasPrefix(parts[0].series, p.Name+"/") {
		// Interleaved: the floor of each cycle is the sum of its parts in
		// that cycle, and its statistics are those of these sums.
		s := Summarise(sum)
		f.Min, f.P50, f.P90, f.PerCycle, f.Cycles = s.Min, s.P50, s.P90, true, sum
	}
	f.Available = true
	return f
}

// Row is one path and op of the main table.
type Row struct {
	Path  Path
	Op    string
	S     Stats
	Floor Floor
	// MS are the figures of the cycles, in order.
	MS []float64
}

// PairedP50 is the median over the cycles of each cycle's figure over that
// cycle's floor: the two were measured back to back, so a machine that
// slows down for a while slows both. NaN unless the floor is per cycle.
func (w Row) PairedP50() float64 {
	if !w.Floor.PerCycle || len(w.Floor.Cycles) != len(w.MS) || len(w.MS) == 0 {
		return math.NaN()
	}
	ratios := make([]float64, len(w.MS))
	for i, v := range w.MS {
		ratios[i] = v / w.Floor.Cycles[i]
	}
	return Summarise(ratios).P50
}

// Ratios are the row's figures over the floor's.
func (w Row) Ratios() (mn, p50, p90 float64) {
	if !w.Floor.Available {
		return math.NaN(), math.NaN(), math.NaN()
	}
	return w.S.Min / w.Floor.Min, w.S.P50 / w.Floor.P50, w.S.P90 / w.Floor.P90
}

// Rows are the measured paths and ops, those without figures left out.
func (r *Results) Rows() []Row {
	var rows []Row
	for _, p := range Paths {
		for _, op := range Ops {
			s, ok := r.Stats(p.Env, p.Name+"/"+op)
			if !ok {
				continue
			}
			rec, _ := r.Get(p.Env, p.Name+"/"+op)
			rows = append(rows, Row{p, op, s, r.FloorOf(p, op), rec.MS})
		}
	}
	return rows
}

// Steps returns the step names of a floor series, in the bare program's
// order.
func (r *Results) Steps(env, floor, op string) []string {
	rec, ok := r.Get(env, floor)
	if !ok || rec.Kind != KindInfo {
		return nil
	}
	s := rec.Info[strings.ToLower(op)+"-steps"]
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Report renders a run.
type Report struct {
	R *Results
	// Header lines: date, commit, command.
	Date, Commit string
	// SVGName is the chart's file name beside the markdown.
	SVGName string
	// ClusterStartup is the pod start-up report of the last `make cluster`
	// (test/cluster/run.sh writes it), "" when there is none.
	ClusterStartup string
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func us(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v*1000, 'f', 0, 64)
}

func ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "x"
}

func (rep *Report) info(env, key string) string {
	rec, ok := rep.R.Get(env, "env")
	if !ok {
		return "?"
	}
	if v := rec.Info[key]; v != "" {
		return v
	}
	return "?"
}

// Verdicts are the targets checked against the run.
type Verdict struct {
	What, Got, Floor string
	OK               bool
	Known            bool
	// Held names, for a target not met, the step that holds it (heldBy).
	Held string
}

// Verdicts checks the targets: per kind of cell, the worst p50 ratio to the
// floor; per reference, fastpath over it on the cell of its configuration.
func (rep *Report) Verdicts() []Verdict {
	var out []Verdict
	for _, kind := range []string{KindKernel, KindVfio, KindVhost} {
		v := Verdict{What: fmt.Sprintf("every %s cell: ADD and DEL p50 within %.2fx of the floor", kind, Limits[kind])}
		worst := 0.0
		var worstRow Row
		for _, w := range rep.R.Rows() {
			if w.Path.Kind != kind || !w.Floor.Available {
				continue
			}
			_, p50, _ := w.Ratios()
			if !v.Known || p50 > worst {
				worst, v.Floor, worstRow = p50, ms(w.Floor.P50)+" ms", w
				v.Got = fmt.Sprintf("worst %s: %s %s, %s ms", ratio(p50), w.Path.Title, w.Op, ms(w.S.P50))
			}
			v.Known = true
		}
		v.OK = v.Known && worst <= Limits[kind]
		if v.Known && !v.OK {
			v.Held = rep.heldBy(worstRow.Path, worstRow.Op)
		}
		out = append(out, v)
	}
	for _, ref := range References {
		p, _ := PathNamed(ref.Path)
		for _, op := range Ops {
			max, refMS := ref.MaxADD, ref.ADD
			if op == "DEL" {
				max, refMS = ref.MaxDEL, ref.DEL
			}
			v := Verdict{What: fmt.Sprintf("%s %s at most %.1fx %s's (%s ms, measured outside the project)", p.Title, op, max, ref.Plugin, ms(refMS))}
			if s, ok := rep.R.Stats(p.Env, p.Name+"/"+op); ok {
				v.Known, v.OK, v.Got = true, s.P50/refMS <= max, fmt.Sprintf("%s ms, %s", ms(s.P50), ratio(s.P50/refMS))
			}
			if v.Known && !v.OK {
				v.Held = rep.heldBy(p, op)
			}
			if f := rep.R.FloorOf(p, op); f.Available {
				v.Floor = ms(f.P50) + " ms"
			}
			out = append(out, v)
		}
	}
	return out
}

// timelineLine is an entry of a bench.NetlinkTimeline: at ms, kernel ms
// (empty for an exec), pid, what; timelineEnd its last line.
var (
	timelineLine = regexp.MustCompile(`^\s*([0-9.]+)\s+([0-9.]*)\s+[0-9]+\s+(.+)$`)
	timelineEnd  = regexp.MustCompile(`of ([0-9.]+) ms from the first exec`)
)

// heldBy names the step that holds a cell's op above its target: the
// longest piece of its traced call (its timeline, bench.NetlinkTimeline),
// either a kernel request (the driver's work is done inside it) or the
// programs' own work between two events (starts, decoding, records, the
// IPAM plugin). A cell without a timeline (the host's) gets heldByProcess.
func (rep *Report) heldBy(p Path, op string) string {
	rec, ok := rep.R.Get(p.Env, "timeline/"+p.Name+"/"+op)
	if !ok {
		return rep.heldByProcess(p, op)
	}
	type event struct {
		at, dur float64
		what    string
	}
	var evs []event
	end := 0.0
	for _, l := range strings.Split(rec.Text, "\n") {
		if m := timelineLine.FindStringSubmatch(l); m != nil {
			at, _ := strconv.ParseFloat(m[1], 64)
			dur, _ := strconv.ParseFloat(m[2], 64)
			evs = append(evs, event{at, dur, m[3]})
		} else if m := timelineEnd.FindStringSubmatch(l); m != nil {
			end, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	if len(evs) == 0 {
		return ""
	}
	// A gap is time in which no request of either program was in the
	// kernel: after the last one to end, before the next event.
	best, held, busy, last := -1.0, "", 0.0, ""
	for i, e := range evs {
		if e.dur > best {
			best, held = e.dur, fmt.Sprintf("%s, %s ms in the kernel", e.what, ms(e.dur))
		}
		if e.at+e.dur >= busy {
			busy, last = e.at+e.dur, e.what
		}
		next, to := end, "the call's end"
		if i+1 < len(evs) {
			next, to = evs[i+1].at, evs[i+1].what
		}
		if gap := next - busy; gap > best {
			best, held = gap, fmt.Sprintf("the programs' own work from %s to %s, %s ms", last, to, ms(gap))
			if last == "exec fastpath" {
				held = fmt.Sprintf("fastpath's start and its own work before its first kernel request (%s): decoding, lock, record, %s ms", to, ms(gap))
			}
		}
	}
	return fmt.Sprintf("%s (the longest piece of the traced call's %s ms)", held, ms(end))
}

// heldByProcess splits a cell's p50 over its floor between libcni's own
// work around the plugin (the call less the plugin's exec) and the plugin's
// process over the floor, and names the larger, with the OVS daemons' CPU
// per cycle where it was measured. "" without the exec series.
func (rep *Report) heldByProcess(p Path, op string) string {
	call, ok1 := rep.R.Stats(p.Env, p.Name+"/"+op)
	exec, ok2 := rep.R.Stats(p.Env, p.Name+"/"+op+"/exec")
	f := rep.R.FloorOf(p, op)
	if !ok1 || !ok2 || !f.Available {
		return ""
	}
	outside, over := call.P50-exec.P50, exec.P50-f.P50
	held := fmt.Sprintf("fastpath's process, %s ms, %s ms over the floor's %s ms (process starts and the kernel calls or OVSDB transaction)", ms(exec.P50), ms(over), ms(f.P50))
	if outside > over {
		held = fmt.Sprintf("libcni's own work around the plugin's exec, %s ms of the call's %s ms", ms(outside), ms(call.P50))
	}
	if c := rep.info(EnvHost, "ovs-vswitchd-cpu"); p.Kind == KindVhost && c != "?" {
		held += fmt.Sprintf("; ovs-vswitchd used %s ms of CPU per cycle, on the plugins' core", c)
	}
	return held
}

func mark(v Verdict) string {
	switch {
	case !v.Known:
		return "not measured"
	case v.OK:
		return "met"
	}
	return "**not met**"
}

// Markdown is docs/benchmarks.md.
func (rep *Report) Markdown() string {
	var b strings.Builder
	r := rep.R
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench` (`test/bench`) on %s, at commit `%s`. Do not edit by hand: run `make bench` again.\n\n", rep.Date, rep.Commit)
	w("**Compare ratios, not milliseconds.** Every figure here was measured in one run, on a shared\n")
	w("2-core machine and in a guest whose CPU is emulated in software (QEMU TCG): another run, or\n")
	w("other work on the machine, moves absolute figures by tens of percent. Each path is measured\n")
	w("against its floor cycle by cycle, interleaved (a start of each program, the bare program's\n")
	w("ADD and DEL, then fastpath's through libcni), so that both see the same load; the ratio of\n")
	w("the two is the figure that carries from one run to the next.\n\n")

	w("| | guest (emulated SR-IOV NIC) | host (this machine) |\n| --- | --- | --- |\n")
	w("| CPU | %s vCPU (\"%s\"), emulated in software (QEMU TCG) | %s x %s |\n", rep.info(EnvGuest, "cpus"), rep.info(EnvGuest, "cpu"), rep.info(EnvHost, "cpus"), rep.info(EnvHost, "cpu"))
	w("| kernel | %s | %s |\n", rep.info(EnvGuest, "kernel"), rep.info(EnvHost, "kernel"))
	w("| memory | %s | %s |\n", rep.info(EnvGuest, "mem"), rep.info(EnvHost, "mem"))
	w("| emulator | %s, Intel 82576 (igb) PF with 7 VFs (igbvf) | - |\n", rep.info(EnvHost, "qemu"))
	w("| measured there | kernel VF and vfio-pci VF cells, host-device, 7 VFs in parallel, strace, timelines, pprof | vhost-user cells on OVS-DPDK (%s), scale curve |\n", rep.info(EnvHost, "ovs"))
	w("| load average (1 min) at start, end | - | %s, %s (%s cores) |\n", rep.info(EnvHost, "load-start"), rep.info(EnvHost, "load-end"), rep.info(EnvHost, "cpus"))
	w("| cycles | %s per path, after %s warm-up, %s pause after each call | %s per path, after %s warm-up |\n\n",
		rep.info(EnvGuest, "cycles"), rep.info(EnvGuest, "warmup"), rep.info(EnvGuest, "settle"), rep.info(EnvHost, "cycles"), rep.info(EnvHost, "warmup"))

	w("## Targets\n\n| target | this run | its floor p50 | | the step that holds it |\n| --- | --- | --- | --- | --- |\n")
	for _, v := range rep.Verdicts() {
		f, held := v.Floor, v.Held
		if f == "" {
			f = "-"
		}
		if held == "" {
			held = "-"
		}
		w("| %s | %s | %s | %s | %s |\n", v.What, v.Got, f, mark(v), held)
	}
	w("\nThe step that holds a target not met is the longest piece of its cell's call traced in the\n")
	w("guest (the timelines below): a kernel request, where the driver does its work, or the\n")
	w("programs' own work between two events. The host's vhost-user cells have no trace: their\n")
	w("p50 is split between libcni's own work and fastpath's process over the floor.\n\n")

	w("## ADD and DEL through libcni\n\n")
	w("Each cycle is one ADD and one DEL through libcni (`AddNetworkList`, `DelNetworkList`, as a\n")
	w("runtime calls them, result cache included), on a fresh pod namespace and container ID.\n")
	w("The bench makes each namespace on a thread that then returns to its pool (`bench.NewPodNS`):\n")
	w("with testutils.NewNS, whose thread dies, the next exec, the ADD's, started 5-6 ms later in\n")
	w("the guest while the Go runtime of the bench made a new thread.\n")
	w("Warm-up cycles are not counted; percentiles are nearest-rank (p50 and p90 were measured).\n")
	w("Milliseconds; in brackets each figure over the same figure of the path's floor (min over\n")
	w("min, p50 over p50, p90 over p90): the ratios the targets are judged by. The last column pairs\n")
	w("each cycle's figure with the floor measured in the same cycle and takes the median of these\n")
	w("ratios, which a slow spell of the shared machine moves less.\n\n")
	w("%s\n", rep.mainTable())
	if t := rep.execTable(); t != "" {
		w("The same cycles, the plugin's process alone: from libcni's exec of fastpath to its exit,\n")
		w("without libcni's own work in the runtime around it (building the config, reading the result,\n")
		w("its cache), which the floor does not have either. ms, with the ratios as above:\n\n%s\n", t)
	}
	w("The cells: kernel VF 0 with `vlan` 100 and `spoofchk` on, and `mac` 02:fa:00:00:00:01 or\n")
	w("none, `mtu` 1400 or none, `trust` on or off; the plain move is `deviceID` alone. host-local\n")
	w("hands out an address from 10.10.0.0/24 and a route to 10.200.0.0/16. vfio: VF 6 bound to\n")
	w("vfio-pci, `vlan` 600, `spoofchk` off, `trust` on, and `mac` or none. vhost-user: `backend`\n")
	w("ovs, `vlan` 100, on a netdev bridge of a private ovsdb-server + DPDK ovs-vswitchd\n")
	w("(`test/ovsenv`), `socketRole` server (OVS connects to the app's socket) or client (OVS makes\n")
	w("the socket, fastpath links it into the pod's directory). All log at `info` to a file.\n\n")
	if c := rep.info(EnvHost, "ovs-vswitchd-cpu"); c != "?" {
		w("On the host, ovs-vswitchd used %s ms of CPU per cycle and ovsdb-server %s ms (a cycle\n", c, rep.info(EnvHost, "ovsdb-server-cpu"))
		w("adds and deletes two ports: the floor's and fastpath's). Its main thread, which reconfigures\n")
		w("for each new port, is pinned to CPU 0 (`dpdk-lcore-mask` 0x1), where the plugins run too; its\n")
		w("PMD thread polls CPU 1. A vhost-user ADD's IPAM plugin runs while that happens, and is\n")
		w("slowed by it; the floor's VERSION start of the IPAM plugin and its OVSDB transaction are\n")
		w("timed apart from it.\n\n")
	}
	if t := rep.peerTable(); t != "" {
		w("The peer, in the same cycles on the same VF: host-device (containernetworking/plugins\n")
		w("v1.10.0) on the cells it supports, the plain move (it sets no VF setting). p50, ms:\n\n%s\n", t)
	}
	w("## Floors\n\n")
	w("The floor of a path is what no implementation can avoid: the process starts (fastpath's,\n")
	w("and the IPAM plugin's when there is one, each timed on a `VERSION` call through the exec\n")
	w("libcni uses) plus the bare program `test/bench/floor`, which does only the kernel calls of\n")
	w("the path (or its OVSDB transaction), timed inside the process: a fresh process for each ADD\n")
	w("and each DEL, cold as each plugin call is, whose first netlink request is a timed one (a\n")
	w("DEL run in the process of its ADD, or a read made before timing, measured 1-2 ms less in\n")
	w("the guest: the same code, warm). A PF-side setting already at its wanted value is not set again\n")
	w("there. Each cycle has its floor, the sum of its parts timed in that cycle; the floor's\n")
	w("min, p50 and p90 are those of these sums (so the parts' p50s below need not add up to the\n")
	w("floor's). p50, ms:\n\n")
	w("%s\n", rep.floorTable())
	w("Process starts, timed once in every cycle of every path, exec'd as libcni execs a plugin (ms):\n\n%s\n", rep.startsTable())
	w("Inside the bare program, step by step (p50, ms; a step runs from the end of the one before):\n\n")
	w("%s\n", rep.stepsTable())
	if s, ok := r.Stats(EnvGuest, "floor/"+RefPath+"/ADD/oper-up"); ok {
		w("Not in any floor: after a kernel VF is set up in the pod, the kernel reports carrier after\n")
		w("%s ms (p50; min %s, p90 %s), measured by the bare program; an announcement (gratuitous ARP)\n", ms(s.P50), ms(s.Min), ms(s.P90))
		w("sent before that dies in the link's noop qdisc.\n\n")
	}

	w("## Parallel: all 7 VFs at once\n\n")
	w("%s\n", rep.parallelTable())

	if t := rep.clusterTable(); t != "" {
		w("## Pod start-up on Kubernetes (make cluster)\n\n")
		w("From the last `make cluster` on this machine, not this run: %s. One pod at a time, created\n", rep.clusterRun())
		w("through the API server to Running (test/cluster, TestStartupTime), on the one-node cluster\n")
		w("whose node is the emulated guest: its kubelet, containerd and Multus run under TCG too, so\n")
		w("a pod's start-up there is seconds, and a few pods do not tell the two rows apart.\n\n%s\n", t)
	}

	w("## Scale: discovery and state handling against the VF count\n\n")
	w("A fake sysfs tree (`test/fakesysfs`) of %d PFs with N VFs each, every VF but one attached\n", ScalePFs)
	w("(a record and a claim each); one ADD's `sriov.Sysfs.LookupVF` of the last VF of the last PF\n")
	w("with the state handling around it (Lock, Load, Owner, Save, Claim), and one DEL's (Lock,\n")
	w("Load, Owner, Release, Remove). Tree and state directory on tmpfs: the question is growth,\n")
	w("not the disk; the last row is the smallest node again with the state directory on disk, as\n")
	w("`/var/lib/cni` is on a node, to show what a disk adds. Microseconds, on the host:\n\n")
	w("%s\n", rep.scaleTable())

	w("## Chart\n\n![p50 of each path against its floor, and the scale curve](%s)\n\n", rep.SVGName)

	if texts := textsNamed(r, "pprof/"); len(texts) > 0 {
		w("## Where the time goes: CPU profiles of fastpath (pprof, guest)\n\n")
		w("The same ADD and DEL cycles through libcni, %s each, with `fastpath-prof`: fastpath\n", rep.info(EnvGuest, "cycles"))
		w("built with the `cpuprofile` tag, which writes a CPU profile of each call (from `main`:\n")
		w("the Go runtime's start and package initialisation come before it) sampled at 1 kHz;\n")
		w("`test/bench` merges them. The guest's clock ticks at 250 Hz, so the samples undercount\n")
		w("the time: read the shares, not the milliseconds. Cumulative counts a function and what\n")
		w("it calls (`main.cmdAdd` or `main.cmdDel` is the whole call), flat the function alone.\n\n")
		for _, t := range texts {
			w("### %s\n\n```\n%s\n```\n\n", strings.TrimPrefix(t.Name, "pprof/"), strings.TrimRight(t.Text, "\n"))
		}
	}

	if texts := textsNamed(r, "timeline/"); len(texts) > 0 {
		w("## Where the time goes: each cell's kernel requests (guest)\n\n")
		w("One ADD and one DEL of each cell through libcni, after its cycles, with fastpath under\n")
		w("`strace -f --seccomp-bpf -e trace=sendto,sendmsg,execve -ttt -T`: every netlink request fastpath and its\n")
		w("IPAM plugin send, when (ms after fastpath's exec), how long the kernel took to carry it out\n")
		w("(the driver's work is done inside the request: a VF's move, its reset, the PF's mailbox), and\n")
		w("what it asked; the execs of the IPAM plugin. What the kernel does not account for is the\n")
		w("programs' own: their starts, decoding, records, the IPAM plugin's work. Tracing only these\n")
		w("calls stops the programs rarely, but each stop still costs: the spans are a little longer\n")
		w("than in the cycles above.\n\n")
		for _, t := range texts {
			name := strings.TrimPrefix(t.Name, "timeline/")
			if cell, op, ok := strings.Cut(name, "/"); ok {
				if p, found := PathNamed(cell); found {
					name = p.Title + ", " + op
				}
			}
			w("### %s\n\n```\n%s\n```\n\n", name, strings.TrimRight(t.Text, "\n"))
		}
	}

	if texts := textsNamed(r, "strace/"); len(texts) > 0 {
		w("## Where the time goes: one ADD and one DEL under strace (guest)\n\n")
		w("Kernel VF + host-local, one call each, `strace -f` following fastpath and the host-local it\n")
		w("runs. `-c -w` is the wall-clock time spent in each syscall (all threads: idle Go threads\n")
		w("wait in futex), `-c` the system time. strace slows every syscall, so absolute figures are\n")
		w("inflated; the shape is what counts.\n\n")
		for _, t := range texts {
			w("### %s\n\n```\n%s\n```\n\n", straceTitle(t.Name), strings.TrimRight(t.Text, "\n"))
		}
	}

	if warns := r.Kind(KindWarn); len(warns) > 0 {
		w("## Warnings of this run\n\n")
		for _, t := range warns {
			w("- %s (%s): %s\n", t.Name, t.Env, strings.ReplaceAll(strings.TrimSpace(t.Text), "\n", "\n  "))
		}
		w("\n")
	}

	w("## Running it\n\n")
	w("    make bench                        # about %s here; needs root and `make deps`\n", rep.info(EnvHost, "elapsed"))
	w("    BENCH_ARGS='-n 50' make bench     # more cycles; go run ./test/bench/host -h lists the flags\n\n")
	w("`test/bench/host` builds fastpath (as `make build`: `-trimpath -s -w`), host-local, the\n")
	w("guest payload `test/bench/guest` and the bare program `test/bench/floor`, boots the guest\n")
	w("with `test/vm/run.sh` (results come back on its console as `%s` lines), then measures\n", strings.TrimSpace(Prefix))
	w("vhost-user and the scale curve on the host, and writes this file and the chart.\n")
	return b.String()
}

// textsNamed returns the text records whose names start with prefix.
func textsNamed(r *Results, prefix string) []Record {
	var out []Record
	for _, t := range r.Kind(KindText) {
		if strings.HasPrefix(t.Name, prefix) {
			out = append(out, t)
		}
	}
	return out
}

// straceTitle names a strace text record ("strace/ADD/wall").
func straceTitle(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return name
	}
	what := map[string]string{
		"wall":   "wall-clock time per syscall (`strace -f -c -w`)",
		"system": "system time per syscall (`strace -f -c`)",
		"trace":  "the timeline (`strace -f -ttt -T`): processes, slowest calls, gaps",
	}[parts[2]]
	if what == "" {
		return name
	}
	return parts[1] + ": " + what
}

func (rep *Report) mainTable() string {
	var b strings.Builder
	b.WriteString("| path | where | op | min | p50 | p90 | floor min / p50 / p90 | p50 of per-cycle ratios |\n| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, w := range rep.R.Rows() {
		mn, p50, p90 := w.Ratios()
		f := "-"
		if w.Floor.Available {
			f = fmt.Sprintf("%s / %s / %s", ms(w.Floor.Min), ms(w.Floor.P50), ms(w.Floor.P90))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s (%s) | **%s** (%s) | %s (%s) | %s | %s |\n",
			w.Path.Title, w.Path.Env, w.Op, ms(w.S.Min), ratio(mn), ms(w.S.P50), ratio(p50), ms(w.S.P90), ratio(p90), f, ratio(w.PairedP50()))
	}
	return b.String()
}

// peerTable is fastpath against the peer plugin on the cells it supports.
func (rep *Report) peerTable() string {
	var b strings.Builder
	for _, w := range rep.R.Rows() {
		if w.Path.Peer == "" {
			continue
		}
		peer, ok := rep.R.Stats(w.Path.Env, w.Path.Name+"/peer/"+w.Op)
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | **%s** |\n", w.Path.Title, w.Op, w.Path.Peer, ms(w.S.P50), ms(peer.P50), ratio(w.S.P50/peer.P50))
	}
	if b.Len() == 0 {
		return ""
	}
	return "| cell | op | peer | fastpath | peer | fastpath / peer |\n| --- | --- | --- | ---: | ---: | ---: |\n" + b.String()
}

// execTable is the plugin's exec time of each path and op, against the floor.
func (rep *Report) execTable() string {
	var b strings.Builder
	for _, w := range rep.R.Rows() {
		rec, ok := rep.R.Get(w.Path.Env, w.Path.Name+"/"+w.Op+"/exec")
		if !ok || len(rec.MS) == 0 {
			continue
		}
		e := w
		e.S, e.MS = Summarise(rec.MS), rec.MS
		_, p50, _ := e.Ratios()
		fmt.Fprintf(&b, "| %s | %s | %s | %s | **%s** (%s) | %s | %s |\n",
			w.Path.Title, w.Path.Env, w.Op, ms(e.S.Min), ms(e.S.P50), ratio(p50), ms(e.S.P90), ratio(e.PairedP50()))
	}
	if b.Len() == 0 {
		return ""
	}
	return "| path | where | op | min | p50 | p90 | p50 of per-cycle ratios |\n| --- | --- | --- | ---: | ---: | ---: | ---: |\n" + b.String()
}

func (rep *Report) floorTable() string {
	var b strings.Builder
	b.WriteString("| path | op | fastpath start | IPAM start | kernel calls / OVSDB | floor |\n| --- | --- | ---: | ---: | ---: | ---: |\n")
	for _, w := range rep.R.Rows() {
		if !w.Floor.Available {
			fmt.Fprintf(&b, "| %s | %s | - | - | - | - |\n", w.Path.Title, w.Op)
			continue
		}
		parts := w.Floor.Parts
		ipam := "-"
		if len(parts) == 3 {
			ipam = ms(parts[1].S.P50)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", w.Path.Title, w.Op, ms(parts[0].S.P50), ipam, ms(parts[len(parts)-1].S.P50), ms(w.Floor.P50))
	}
	return b.String()
}

// startNames are the programs whose starts are timed, with what they are.
var startNames = []struct{ series, what string }{
	{"version/fastpath", "fastpath, VERSION"},
	{"version/host-local", "host-local, VERSION"},
	{"version/minimal", "the smallest Go plugin: VERSION with the standard library only (`test/bench/minimal`)"},
	{"version/true", "a program that does nothing (`/bin/true`: static busybox in the guest, coreutils on the host)"},
}

func (rep *Report) startsTable() string {
	var b strings.Builder
	b.WriteString("| program | guest min / p50 / p90 | host min / p50 / p90 |\n| --- | ---: | ---: |\n")
	for _, n := range startNames {
		cells := []string{}
		for _, env := range []string{EnvGuest, EnvHost} {
			if s, ok := rep.R.Stats(env, n.series); ok {
				cells = append(cells, fmt.Sprintf("%s / **%s** / %s", ms(s.Min), ms(s.P50), ms(s.P90)))
			} else {
				cells = append(cells, "-")
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", n.what, cells[0], cells[1])
	}
	return b.String()
}

func (rep *Report) stepsTable() string {
	var b strings.Builder
	b.WriteString("| floor | op | steps |\n| --- | --- | --- |\n")
	seen := map[string]bool{}
	for _, p := range Paths {
		if seen[p.Floor] {
			continue
		}
		seen[p.Floor] = true
		for _, op := range Ops {
			steps := rep.R.Steps(p.Env, p.Floor, op)
			if len(steps) == 0 {
				continue
			}
			var parts []string
			for _, st := range steps {
				if s, ok := rep.R.Stats(p.Env, p.Floor+"/"+op+"/"+st); ok {
					parts = append(parts, fmt.Sprintf("%s %s", st, ms(s.P50)))
				}
			}
			fmt.Fprintf(&b, "| %s (%s) | %s | %s |\n", strings.TrimPrefix(p.Floor, "floor/"), p.Env, op, strings.Join(parts, ", "))
		}
	}
	return b.String()
}

func (rep *Report) parallelTable() string {
	var b strings.Builder
	r := rep.R
	n := rep.info(EnvGuest, "rounds")
	fmt.Fprintf(&b, "Kernel VF + host-local on the guest, each VF on its own VLAN; %s rounds of 7 ADDs started\n", n)
	b.WriteString("together, then 7 DELs. Total is the wall time from the start to the last call's end; per pod\n")
	b.WriteString("is each call's own time. The guest has one vCPU: the calls share it. A call alone fills the\n")
	b.WriteString("kernel's waits while its VF moves with its IPAM plugin's run; seven at once have few waits\n")
	b.WriteString("left to fill, so their total is compared with seven sequential calls (the last column:\n")
	b.WriteString("above 1x, they cost more CPU together than apart). ms.\n\n")
	b.WriteString("| op | total min | total p50 | total p90 | per pod p50 | per pod p90 | total / 7 | 7 x sequential p50 | total p50 / 7 x sequential |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, op := range Ops {
		tot, ok1 := r.Stats(EnvGuest, "parallel/"+op+"/total")
		pod, ok2 := r.Stats(EnvGuest, "parallel/"+op+"/pod")
		if !ok1 || !ok2 {
			continue
		}
		seq, ratio := "-", "-"
		if s, ok := r.Stats(EnvGuest, RefPath+"/"+op); ok && s.P50 > 0 {
			seq = ms(7 * s.P50)
			ratio = fmt.Sprintf("%.2fx", float64(tot.P50)/float64(7*s.P50))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", op, ms(tot.Min), ms(tot.P50), ms(tot.P90), ms(pod.P50), ms(pod.P90), ms(tot.P50/7), seq, ratio)
	}
	return b.String()
}

// ScaleCounts are the VF counts of the scale curve in the results.
func (r *Results) ScaleCounts() []int {
	rec, ok := r.Get(EnvHost, "scale")
	if !ok {
		return nil
	}
	var out []int
	for _, f := range strings.Split(rec.Info["counts"], ",") {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

func (rep *Report) scaleTable() string {
	var b strings.Builder
	r := rep.R
	counts := r.ScaleCounts()
	if len(counts) == 0 {
		return "(not measured)\n"
	}
	b.WriteString("| VFs per PF | VFs on the node | LookupVF p50 | ADD discovery + state p50 (p90) | DEL state p50 (p90) | ADD vs the smallest |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n")
	var base float64
	for i, n := range counts {
		look, _ := r.Stats(EnvHost, fmt.Sprintf("scale/%d/lookup", n))
		add, _ := r.Stats(EnvHost, fmt.Sprintf("scale/%d/ADD", n))
		del, _ := r.Stats(EnvHost, fmt.Sprintf("scale/%d/DEL", n))
		if i == 0 {
			base = add.P50
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s (%s) | %s (%s) | %s |\n", n, n*ScalePFs, us(look.P50), us(add.P50), us(add.P90), us(del.P50), us(del.P90), ratio(add.P50/base))
	}
	if add, ok := r.Stats(EnvHost, "scale/disk/ADD"); ok {
		rec, _ := r.Get(EnvHost, "scale")
		look, _ := r.Stats(EnvHost, "scale/disk/lookup")
		del, _ := r.Stats(EnvHost, "scale/disk/DEL")
		n, _ := strconv.Atoi(rec.Info["disk-vfs"])
		fmt.Fprintf(&b, "| %d, state on %s | %d | %s | %s (%s) | %s (%s) | %s |\n", n, rec.Info["disk"], n*ScalePFs,
			us(look.P50), us(add.P50), us(add.P90), us(del.P50), us(del.P90), ratio(add.P50/base))
	}
	return b.String()
}

// clusterLine is a start-up line of TestStartupTime.
var clusterLine = regexp.MustCompile(`pod start-up, (.+): median ([0-9.]+)s \(min ([0-9.]+)s, max ([0-9.]+)s, ([0-9]+) pods\)`)

// clusterTable is the pod start-up table of ClusterStartup, "" without one.
func (rep *Report) clusterTable() string {
	var b strings.Builder
	for _, l := range strings.Split(rep.ClusterStartup, "\n") {
		if m := clusterLine.FindStringSubmatch(l); m != nil {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", m[1], m[5], m[3], m[2], m[4])
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "| pod networks | pods | min s | median s | max s |\n| --- | ---: | ---: | ---: | ---: |\n" + b.String()
}

// clusterRun is ClusterStartup's first line: when and at which commit.
func (rep *Report) clusterRun() string {
	first, _, _ := strings.Cut(rep.ClusterStartup, "\n")
	return strings.TrimSpace(first)
}

// Tables is the part of the report worth printing on a terminal.
func (rep *Report) Tables() string {
	var b strings.Builder
	b.WriteString("Targets:\n")
	for _, v := range rep.Verdicts() {
		fmt.Fprintf(&b, "  %-56s %-50s floor %-9s %s\n", v.What, v.Got, v.Floor, strings.Trim(mark(v), "*"))
		if v.Held != "" {
			fmt.Fprintf(&b, "    held by %s\n", v.Held)
		}
	}
	b.WriteString("\nADD and DEL through libcni (ms; ratio to floor in brackets):\n")
	b.WriteString(rep.mainTable())
	b.WriteString("\nFloors (p50, ms):\n")
	b.WriteString(rep.floorTable())
	b.WriteString("\nProcess starts (ms):\n")
	b.WriteString(rep.startsTable())
	b.WriteString("\nFloor steps (p50, ms):\n")
	b.WriteString(rep.stepsTable())
	b.WriteString("\nParallel:\n")
	b.WriteString(rep.parallelTable())
	b.WriteString("\nScale (µs):\n")
	b.WriteString(rep.scaleTable())
	if warns := rep.R.Kind(KindWarn); len(warns) > 0 {
		b.WriteString("\nWarnings:\n")
		for _, t := range warns {
			fmt.Fprintf(&b, "  %s (%s): %s\n", t.Name, t.Env, t.Text)
		}
	}
	return b.String()
}
