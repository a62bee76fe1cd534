package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	var ms []float64
	for i := 30; i >= 1; i-- {
		ms = append(ms, float64(i))
	}
	s := Summarise(ms)
	if s.N != 30 || s.Min != 1 || s.Max != 30 || s.P50 != 15 || s.P90 != 27 || s.Mean != 15.5 {
		t.Errorf("Summarise(1..30) = %+v", s)
	}
	if s := Summarise([]float64{7}); s.Min != 7 || s.P50 != 7 || s.P90 != 7 {
		t.Errorf("Summarise(7) = %+v", s)
	}
	if s := Summarise(nil); !math.IsNaN(s.P50) || s.N != 0 {
		t.Errorf("Summarise(nil) = %+v", s)
	}
}

func TestEmitScan(t *testing.T) {
	var buf bytes.Buffer
	e := NewEmitter(&buf, EnvGuest)
	e.Series("kernel-hostlocal/ADD", []time.Duration{1500 * time.Microsecond, 2 * time.Millisecond})
	e.Text("strace/ADD/wall", "line 1\nline \"2\"\n")
	e.Warn("x", "went %s", "wrong")
	// A console prepends and interleaves.
	console := "Booting\nsome " + strings.ReplaceAll(buf.String(), "\n\n", "\nnoise\n") + "\n" + Prefix + "{broken\nlast line\n"
	var other []string
	recs, errs := Scan(strings.NewReader(console), func(l string) { other = append(other, l) })
	if len(recs) != 3 || len(errs) != 1 {
		t.Fatalf("records %+v, errors %v", recs, errs)
	}
	if r := recs[0]; r.Env != EnvGuest || r.Kind != KindSeries || r.Name != "kernel-hostlocal/ADD" || r.MS[0] != 1.5 || r.MS[1] != 2 {
		t.Errorf("series = %+v", r)
	}
	if r := recs[1]; r.Text != "line 1\nline \"2\"\n" {
		t.Errorf("text = %q", r.Text)
	}
	if !strings.Contains(strings.Join(other, "|"), "last line") {
		t.Errorf("other lines: %q", other)
	}
}

// fakeResults is a run with every series the report reads.
func fakeResults() *Results {
	r := NewResults()
	series := func(env, name string, base float64) {
		var ms []float64
		for i := range 30 {
			ms = append(ms, base*(1+float64(i)/100))
		}
		r.Add(Record{Kind: KindSeries, Env: env, Name: name, MS: ms})
	}
	for _, env := range []string{EnvGuest, EnvHost} {
		r.Add(Record{Kind: KindInfo, Env: env, Name: "env", Info: map[string]string{"cpus": "1", "cycles": "30"}})
		series(env, "version/fastpath", 30)
		series(env, "version/host-local", 28)
	}
	for _, p := range Paths {
		for _, op := range Ops {
			series(p.Env, p.Name+"/"+op, 150)
			series(p.Env, p.Floor+"/"+op, 20)
			series(p.Env, p.Floor+"/"+op+"/netlink", 2)
			series(p.Env, p.Floor+"/"+op+"/pf-side", 18)
		}
		r.Add(Record{Kind: KindInfo, Env: p.Env, Name: p.Floor, Info: map[string]string{"add-steps": "netlink,pf-side", "del-steps": "netlink,pf-side"}})
	}
	series(EnvGuest, "floor/"+RefPath+"/ADD/oper-up", 40)
	for _, op := range Ops {
		series(EnvGuest, "parallel/"+op+"/total", 700)
		series(EnvGuest, "parallel/"+op+"/pod", 500)
	}
	for _, n := range []int{8, 64, 256, 1024} {
		for _, s := range []string{"lookup", "ADD", "DEL"} {
			series(EnvHost, fmt.Sprintf("scale/%d/%s", n, s), 0.05)
		}
	}
	r.Add(Record{Kind: KindInfo, Env: EnvHost, Name: "scale", Info: map[string]string{"counts": "8,64,256,1024"}})
	r.Add(Record{Kind: KindText, Env: EnvGuest, Name: "strace/ADD/wall", Text: "% time  seconds\n"})
	r.Add(Record{Kind: KindWarn, Env: EnvGuest, Name: "vfio", Text: "one"})
	r.Add(Record{Kind: KindWarn, Env: EnvGuest, Name: "vfio", Text: "two"})
	return r
}

func TestResultsMerge(t *testing.T) {
	r := NewResults(
		Record{Kind: KindSeries, Env: EnvGuest, Name: "a", MS: []float64{1, 2}},
		Record{Kind: KindSeries, Env: EnvHost, Name: "a", MS: []float64{9}},
		Record{Kind: KindSeries, Env: EnvGuest, Name: "a", MS: []float64{3}},
		Record{Kind: KindInfo, Env: EnvGuest, Name: "i", Info: map[string]string{"k": "1"}},
		Record{Kind: KindInfo, Env: EnvGuest, Name: "i", Info: map[string]string{"k": "2"}},
	)
	if s, _ := r.Stats(EnvGuest, "a"); s.N != 3 || s.Max != 3 {
		t.Errorf("merged series: %+v", s)
	}
	if s, _ := r.Stats(EnvHost, "a"); s.N != 1 {
		t.Errorf("host series: %+v", s)
	}
	if rec, _ := r.Get(EnvGuest, "i"); rec.Info["k"] != "2" {
		t.Errorf("info %+v", rec)
	}
	// A path's own starts win over the pooled ones.
	noIPAM, _ := PathNamed("kernel-noipam")
	r.Add(Record{Kind: KindSeries, Env: EnvGuest, Name: "version/fastpath", MS: []float64{100}})
	r.Add(Record{Kind: KindSeries, Env: EnvGuest, Name: "kernel-noipam/start/fastpath", MS: []float64{10}})
	r.Add(Record{Kind: KindSeries, Env: EnvGuest, Name: "floor/kernel-noipam/ADD", MS: []float64{5}})
	if f := r.FloorOf(noIPAM, "ADD"); f.P50 != 15 || !f.PerCycle {
		t.Errorf("floor %+v", f)
	}
	// Per cycle: the floor of each cycle is the sum of that cycle's parts.
	r.Add(Record{Kind: KindSeries, Env: EnvGuest, Name: "kernel-noipam/start/fastpath", MS: []float64{30, 20}})
	r.Add(Record{Kind: KindSeries, Env: EnvGuest, Name: "floor/kernel-noipam/ADD", MS: []float64{1, 100}})
	// cycles: 10+5, 30+1, 20+100
	if f := r.FloorOf(noIPAM, "ADD"); f.Min != 15 || f.P50 != 31 || f.P90 != 120 || !f.PerCycle {
		t.Errorf("per-cycle floor %+v", f)
	}
}

func TestFloorAndRatios(t *testing.T) {
	r := fakeResults()
	rows := r.Rows()
	if len(rows) != len(Paths)*len(Ops) {
		t.Fatalf("%d rows", len(rows))
	}
	w := rows[0] // kernel VF + host-local ADD: 30 + 28 + 20 at p50 scale
	if !w.Floor.Available || len(w.Floor.Parts) != 3 {
		t.Fatalf("floor %+v", w.Floor)
	}
	want := Summarise(r.recs[key(EnvGuest, "version/fastpath")].MS).P50 +
		Summarise(r.recs[key(EnvGuest, "version/host-local")].MS).P50 +
		Summarise(r.recs[key(EnvGuest, "floor/kernel-hostlocal/ADD")].MS).P50
	if math.Abs(w.Floor.P50-want) > 1e-9 {
		t.Errorf("floor p50 %v, want %v", w.Floor.P50, want)
	}
	if _, p50, _ := w.Ratios(); math.Abs(p50-w.S.P50/want) > 1e-9 {
		t.Errorf("ratio %v", p50)
	}
	noIPAM, _ := PathNamed("kernel-noipam")
	if f := r.FloorOf(noIPAM, "ADD"); len(f.Parts) != 2 {
		t.Errorf("no-IPAM floor has parts %+v", f.Parts)
	}
}

func TestReport(t *testing.T) {
	rep := &Report{R: fakeResults(), Date: "today", Commit: "abc<d>", SVGName: "benchmarks.svg",
		ClusterStartup: "2026-12-02 12:00 UTC, commit 1da80b5, exit 0\n  startup_test.go:44: pod start-up, + fastpath kernel VF: median 23.3s (min 17.6s, max 31.9s, 3 pods)\n"}
	md := rep.Markdown()
	for _, want := range []string{
		"| kernel VF, mac, mtu, trust off + host-local | guest | ADD |", "(1.92x)", "**not met**", "Compare ratios",
		"at most 0.6x sriov-cni's (305 ms", "worst 3.00x: kernel VF, mac, mtu, trust off, no IPAM ADD", "| 1024 | 4096 |", "### ADD: wall-clock time per syscall", "vfio (guest): one\n  two", "![",
		"netlink 2.3, pf-side 20.5", "kernel reports carrier",
		"not this run: 2026-12-02 12:00 UTC, commit 1da80b5, exit 0.", "| + fastpath kernel VF | 3 | 17.6 | 23.3 | 31.9 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	svg := rep.SVG()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
	}
	if !strings.Contains(svg, "abc&lt;d&gt;") || strings.Count(svg, "<polyline") != 3 {
		t.Errorf("SVG content:\n%s", svg)
	}
	if tab := rep.Tables(); !strings.Contains(tab, "Targets:") || !strings.Contains(tab, "Warnings:") {
		t.Errorf("tables:\n%s", tab)
	}
}

func TestAnalyseStrace(t *testing.T) {
	trace := `100  10.000000 execve("/opt/bin/fastpath", ["fastpath"], 0x7ff /* 9 vars */) = 0 <0.000300>
100  10.001000 clone(child_stack=0x1, flags=CLONE_VM|CLONE_THREAD) = 101 <0.000050>
101  10.001100 futex(0x1, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>
100  10.002000 sendto(3, "x", 1, 0, NULL, 0 <unfinished ...>
101  10.005000 <... futex resumed>) = 0 <0.003900>
100  10.012000 <... sendto resumed>) = 1 <0.010000>
100  10.020000 clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK|SIGCHLD) = 102 <0.000400>
101  10.010000 clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK|SIGCHLD) = 103 <0.000400>
103  10.010100 execve("/sbin/ethtool", ["ethtool"], 0x7ff /* 9 vars */) = -1 ENOENT (No such file or directory) <0.000050>
102  10.020100 execve("/opt/cni/bin/host-local", ["host-local"], 0x7ff /* 9 vars */) = 0 <0.000500>
102  10.030000 exit_group(0)           = ?
102  10.030100 +++ exited with 0 +++
100  10.031000 wait4(102, NULL, 0, NULL) = 102 <0.000100>
`
	got := AnalyseStrace(trace, 10)
	for _, want := range []string{
		"fastpath     start     0.0 ms  span    31.1 ms   3 tasks",
		"host-local   start    20.1 ms",
		"10.00 ms  at     2.0 ms  fastpath   sendto(3",
		"10.60 ms  at    20.4 ms  fastpath   between clone and wait4",
		"8.00 ms  at    12.0 ms  fastpath   between sendto and clone",
		"at    20.0 ms  fastpath   started pid 102: host-local",
		"started pid 103: (no exec), failed exec of /sbin/ethtool ENOENT",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("analysis lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "futex(0x1") {
		t.Errorf("an idle futex wait is among the slowest:\n%s", got)
	}
}

func TestTrimStraceSummary(t *testing.T) {
	table := `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ------------------
 50.00    0.5           1         1           futex
 30.00    0.3           1         1           nanosleep
 20.00    0.2           1         1           sendto
------ ----------- ----------- --------- --------- ------------------
100.00    1.0           1         3           total
`
	got := TrimStraceSummary(table, 2)
	if !strings.Contains(got, "nanosleep\n  ... 1 more syscalls\n------") || strings.Contains(got, "sendto") || !strings.Contains(got, "total") {
		t.Errorf("trimmed:\n%s", got)
	}
	if got := TrimStraceSummary(table, 5); got != table {
		t.Errorf("untrimmed:\n%s", got)
	}
}

func TestScale(t *testing.T) {
	pts, err := Scale([]int{8, 64}, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || len(pts[1].Add) != 20 || len(pts[1].Del) != 20 || len(pts[1].Lookup) != 20 {
		t.Fatalf("points %+v", pts)
	}
}

func BenchmarkScaleADD(b *testing.B) {
	for _, n := range []int{8, 64, 256, 1024} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			pts, err := Scale([]int{n}, b.N)
			if err != nil {
				b.Fatal(err)
			}
			var sum time.Duration
			for _, d := range pts[0].Add {
				sum += d
			}
			b.ReportMetric(float64(sum.Microseconds())/float64(len(pts[0].Add)), "µs/ADD")
		})
	}
}

// The per-cycle ratio pairs each cycle's figure with the floor measured in
// the same cycle; a slow spell of the machine then cancels out.
func TestPairedP50(t *testing.T) {
	r := NewResults()
	series := map[string][]float64{
		"kernel-hostlocal/start/fastpath":   {4, 8, 12},
		"kernel-hostlocal/start/host-local": {3, 6, 9},
		"floor/kernel-hostlocal/ADD":        {3, 6, 9}, // floors 10, 20, 30
		"kernel-hostlocal/ADD":              {30, 22, 33},
	}
	for name, ms := range series {
		r.Add(Record{Kind: KindSeries, Env: EnvGuest, Name: name, MS: ms})
	}
	rows := r.Rows()
	if len(rows) != 1 || !rows[0].Floor.PerCycle {
		t.Fatalf("rows %+v", rows)
	}
	w := rows[0]
	if _, p50, _ := w.Ratios(); math.Abs(p50-1.5) > 1e-9 { // 30 over 20
		t.Errorf("p50 over p50 = %v, want 1.5", p50)
	}
	if got := w.PairedP50(); math.Abs(got-1.1) > 1e-9 { // 3, 1.1, 1.1
		t.Errorf("PairedP50 = %v, want 1.1", got)
	}
	if got := fakeResults().Rows()[0].PairedP50(); !math.IsNaN(got) {
		t.Errorf("pooled starts: PairedP50 = %v, want NaN", got)
	}
}

func TestExecTable(t *testing.T) {
	r := NewResults()
	for name, ms := range map[string][]float64{
		"kernel-hostlocal/start/fastpath":   {4, 8, 12},
		"kernel-hostlocal/start/host-local": {3, 6, 9},
		"floor/kernel-hostlocal/ADD":        {3, 6, 9}, // floors 10, 20, 30
		"kernel-hostlocal/ADD":              {30, 22, 33},
		"kernel-hostlocal/ADD/exec":         {20, 24, 36}, // 2, 1.2, 1.2
	} {
		r.Add(Record{Kind: KindSeries, Env: EnvGuest, Name: name, MS: ms})
	}
	rep := &Report{R: r}
	got := rep.execTable()
	want := "| kernel VF, trust off + host-local | guest | ADD | 20.0 | **24.0** (1.20x) | 36.0 | 1.20x |"
	if !strings.Contains(got, want) {
		t.Errorf("execTable:\n%s\nwant a row %s", got, want)
	}
	if (&Report{R: fakeResults()}).execTable() != "" {
		t.Error("a table without exec series")
	}
}
